/**
 * `plugin-keeper build`: src/index.ts → DIR/plugin.wasm. The work is cli/plugin-build.ts's
 * (esbuild, then componentize-js for the world plugin.toml's `handle_request` asks for);
 * this command shows its progress and the result.
 */
import path from 'node:path';
import { type Command, CommandFailed } from '../command.js';
import { buildPluginComponent } from '../plugin-build.js';
import { parseCommandLine } from './args.js';
import { formatDuration, progressOn } from './progress.js';
import { describeError } from '../../protocol/error-text.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build a TypeScript plugin into its component (plugin.wasm)',
  usage: `usage: plugin-keeper build [DIR]

Bundles DIR/src/index.ts (default DIR: the current folder) and turns it into a WebAssembly
component with componentize-js, for the world plugin.toml asks for (format-plugin, or
format-plugin-v2 with [capabilities] handle_request = true). Writes DIR/plugin.wasm.
Takes about ten seconds; progress is shown on stderr.`,

  async run(args, output) {
    const { positionals } = parseCommandLine(args, {}, 1);
    const dir = path.resolve(positionals[0] ?? '.');
    let result;
    try {
      result = await buildPluginComponent(dir, { onProgress: progressOn(output) });
    } catch (error) {
      // Type errors, esbuild's and componentize-js' complaints: the author's to fix, shown as they are.
      throw new CommandFailed(`the build of ${dir} failed: ${describeError(error)}`);
    }
    output.out(result.wasmPath);
    output.err(`built ${result.wasmPath}: ${result.bytes} bytes, world ${result.world}, in ${formatDuration(result.ms)}`);
    return 0;
  },
};
