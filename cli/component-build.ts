/**
 * Turning plugin sources into WebAssembly components, without any toolchain but npm's:
 * hand-written WAT (wabt, then the WIT embedded and `component new` from jco's wasm-tools)
 * and JavaScript (componentize-js). Used by the test fixtures, the example plugins and the
 * author tool.
 */
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import wabtInit from 'wabt';

let wabt: ReturnType<typeof wabtInit> | undefined;

export async function watToCore(file: string, wat: string): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const module = (await wabt).parseWat(file, wat);
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

export async function watToComponent(file: string, wat: string, wit: string, world: string): Promise<Uint8Array> {
  const core = await watToCore(file, wat);
  // The WIT goes in as text: the file-path variant (`witPath`) fails with
  // "No such file or directory (os error 44)", as wasm-tools runs sandboxed.
  const embedded = await componentEmbed({ binary: core, witSource: wit, world });
  return componentNew(embedded, []);
}

/**
 * The part of componentize-js' API used here. Its types.d.ts leaves out `witWorld`
 * (WIT given as text), which the implementation reads and which is the only way to pass
 * WIT that works here.
 */
type Componentize = (options: {
  sourcePath: string;
  witWorld: string;
  worldName: string;
  disableFeatures: Array<'stdio' | 'random' | 'clocks' | 'http' | 'fetch-event'>;
}) => Promise<{ component: Uint8Array }>;

export async function componentizeJs(sourcePath: string, wit: string, world: string): Promise<Uint8Array> {
  // componentize-js loads @bytecodealliance/preview2-shim without declaring it: this
  // project's devDependencies carry it.
  const { componentize } = (await import('@bytecodealliance/componentize-js')) as unknown as { componentize: Componentize };
  const { component } = await componentize({
    sourcePath,
    witWorld: wit,
    worldName: world,
    // stdio on: console.log/console.error reach the plugin's log through the host's WASI
    // stdout/stderr (plugin-host/wasi/imports.ts). Everything else off: no network, and no
    // filesystem, environment or arguments beyond the empty ones the host's WASI gives.
    disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
  });
  return component;
}
