/**
 * TypeScript declarations of the plugin interface, for a plugin's own sources: generated
 * from the repository's wit/format-plugin.wit by jco's guest type generation (the bindgen
 * component shipped in @bytecodealliance/jco-transpile), so they cannot drift from the WIT
 * the server checks components against.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { $init, generateTypes } from '@bytecodealliance/jco-transpile/component';

export type PluginWorld = 'format-plugin' | 'format-plugin-v2';

/** This file runs as dist/cli/author/wit-types.js; the WIT stays at the repository root. */
const WIT_FILE = fileURLToPath(new URL('../../../wit/format-plugin.wit', import.meta.url));

/**
 * The declarations for `world`, by relative file name: `format-plugin.d.ts` and one
 * `interfaces/*.d.ts` per exported interface, each an ambient module named after it
 * (`artifact-keeper:format/handler@1.0.0`).
 */
export async function generateWitTypes(world: PluginWorld): Promise<Map<string, string>> {
  await $init;
  // The WIT goes in as text: the path variant fails here ("No such file or directory (os
  // error 44)"), as the bindgen component runs sandboxed.
  const wit = await readFile(WIT_FILE, 'utf8');
  const files = generateTypes('format-plugin', { wit: { tag: 'source', val: wit }, world, guest: true });
  return new Map(files.map(([name, bytes]) => [name, Buffer.from(bytes).toString('utf8')]));
}
