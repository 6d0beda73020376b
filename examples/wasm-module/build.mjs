// Builds this AssemblyScript plugin into a component. `plugin-keeper build` (the project's
// cli/plugin-build.ts) uses a plugin folder's build.mjs instead of its TypeScript pipeline:
// it reads plugin.toml, passes the WIT and the world here, and writes plugin.wasm.
//
// Three steps: AssemblyScript compiles assembly/index.ts to a core module; binaryen renames
// its exports to the names the canonical ABI looks for (AssemblyScript cannot write `:`,
// `/`, `@` or `#` in an export name); wasm-tools (through jco) embeds the WIT world and
// wraps the module into a component.
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import asc from 'assemblyscript/asc';
import binaryen from 'binaryen';

const HANDLER = 'artifact-keeper:format/handler@1.0.0';

/** AssemblyScript export -> the WIT function it implements. */
const EXPORT_NAMES = {
  formatKey: 'format-key',
  validate: 'validate',
  parseMetadata: 'parse-metadata',
  generateIndex: 'generate-index',
};
/** Exported under the canonical ABI's own names already, or needed as they are. */
const KEPT = new Set(['cabi_realloc', 'memory']);

export async function buildComponent({ dir, wit, world, onProgress }) {
  onProgress('compiling assembly/index.ts (AssemblyScript)');
  const core = await compile(dir);
  onProgress('renaming exports for the canonical ABI (binaryen)');
  const renamed = renameExports(core);
  onProgress(`making the component (wasm-tools, ${world})`);
  const embedded = await componentEmbed({ binary: renamed, witSource: wit, world });
  return componentNew(embedded, []);
}

async function compile(dir) {
  const outputs = new Map();
  const { error, stderr } = await asc.main(
    [
      'assembly/index.ts',
      '--baseDir', dir,
      '--outFile', 'plugin.core.wasm',
      // A bump allocator that the post-return functions empty (see assembly/abi.ts).
      '--runtime', 'stub',
      '--optimizeLevel', '3',
      '--shrinkLevel', '2',
      '--noAssert',
      // No `env.abort` import, which the world does not offer: a failed check traps instead.
      '--use', 'abort=',
    ],
    // The module stays in memory: the caller writes only the component.
    { writeFile: (name, contents) => void outputs.set(name, contents) },
  );
  if (error) throw new Error(`AssemblyScript compilation failed: ${error.message}\n${stderr.toString()}`);
  return outputs.get('plugin.core.wasm');
}

function renameExports(core) {
  const module = binaryen.readBinary(core);
  try {
    module.setFeatures(binaryen.Features.All);
    const exports = [];
    for (let i = 0; i < module.getNumExports(); i++) exports.push(binaryen.getExportInfo(module.getExportByIndex(i)));
    const postReturn = exports.find((info) => info.name === 'postReturn');
    if (!postReturn) throw new Error('assembly/index.ts must export postReturn');
    for (const { name, value } of exports) {
      if (KEPT.has(name)) continue;
      module.removeExport(name);
      if (name === 'postReturn') continue;
      const wit = EXPORT_NAMES[name];
      if (!wit) throw new Error(`assembly/index.ts exports ${name}, which is no function of ${HANDLER}`);
      module.addFunctionExport(value, `${HANDLER}#${wit}`);
      // The host calls it once it has copied the function's result out.
      module.addFunctionExport(postReturn.value, `cabi_post_${HANDLER}#${wit}`);
    }
    if (!module.validate()) throw new Error('the renamed module does not validate');
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}
