/**
 * The WASI interfaces the plugin host gives a component, and nothing else.
 *
 * Data only, so the supervisor can import it to refuse a component at install time
 * (supervisor/runtime/component.ts) with the same list the host implements at run time
 * (./imports.ts): the two cannot drift apart.
 *
 * Components are transpiled in instantiation mode, where jco looks every import up in the
 * import object under the interface name *without* its version (`wasi:cli/stdout`), so
 * these names are exactly the import object's keys.
 */

/** WASI 0.2.x is the only release line implemented; 0.2 point releases are compatible. */
export const WASI_VERSION_RANGE = '0.2.x';

export function isSupportedWasiVersion(version: string | null): boolean {
  return version !== null && /^0\.2\.\d+$/.test(version);
}

/**
 * What a format handler needs: stdout/stderr (into the plugin's log), an empty stdin, no
 * terminal, empty environment and arguments, clocks, random, and the filesystem types with
 * an empty preopen list (so no file can ever be opened). No sockets, no HTTP.
 */
export const PROVIDED_WASI_INTERFACES = [
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:filesystem/types',
  'wasi:filesystem/preopens',
] as const;

export type ProvidedWasiInterface = (typeof PROVIDED_WASI_INTERFACES)[number];
