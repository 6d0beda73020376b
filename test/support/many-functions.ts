// A component that is a working `demo` handler (test/fixtures/good.wat) and also exports an
// interface of `count` empty functions: tiny as a binary (about 210 bytes per function), but
// jco's transpile of it takes time and output that grow faster than the count. Built at test
// time and cached under .cache/fixtures by count.
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { watToComponent } from '../../cli/component-build.js';
import { repoRoot } from './fixtures.js';

const BUILDER_VERSION = '1';

export async function manyFunctionsComponent(count: number): Promise<Uint8Array<ArrayBuffer>> {
  const file = path.join(repoRoot, '.cache', 'fixtures', `many-functions-${count}-v${BUILDER_VERSION}.wasm`);
  const cached = await stat(file).then(() => true, () => false);
  if (!cached) {
    const good = await readFile(path.join(repoRoot, 'test/fixtures/good.wat'), 'utf8');
    const pluginWit = await readFile(path.join(repoRoot, 'wit/format-plugin.wit'), 'utf8');
    const names = Array.from({ length: count }, (_, i) => `op${i}`);
    const wit = pluginWit.replace(
      /world format-plugin \{/,
      `interface many {\n${names.map((name) => `  ${name}: func();`).join('\n')}\n}\nworld format-plugin {\n  export many;`,
    );
    const functions = names.map((name) => `  (func (export "artifact-keeper:format/many@1.0.0#${name}"))`).join('\n');
    const wat = good.replace(/\)\s*$/, `${functions}\n)`);
    const wasm = await watToComponent('many-functions.wat', wat, wit, 'format-plugin');
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, wasm);
    await rename(temporary, file);
  }
  return new Uint8Array(await readFile(file));
}
