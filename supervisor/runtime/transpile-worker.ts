/**
 * jco's transpiler, run in a worker thread so that a component that is slow to transpile
 * (tens of seconds for one exporting thousands of functions) never blocks the supervisor's
 * event loop. component.ts starts one worker per transpile, with a JS heap bound
 * (`resourceLimits`) and a deadline after which it terminates the worker.
 *
 * The worker checks the generated JavaScript against its cap before anything leaves it, and
 * hands the files back without copying (their buffers are transferred).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { MAX_SOURCE_MAP_BYTES, readSourceMap, SOURCE_MAP_FILE } from '../../protocol/source-map-section.js';
import { describeError } from '../../protocol/error-text.js';

export interface TranspileRequest {
  bytes: Uint8Array;
  /** Cap on the generated JavaScript (every file but the core .wasm modules), in bytes. */
  maxJavaScriptBytes: number;
}

export type TranspileReply =
  | { ok: true; files: Array<[name: string, content: Uint8Array]> }
  | { ok: false; problem: string };

/**
 * The options every cached component was transpiled with; the plugin host's loader depends
 * on each of them. A function, because transpileBytes writes into the object it is given.
 *
 * - `instantiation: 'async'`: the module exports `instantiate(getCoreModule, imports,
 *   instantiateCore)` instead of instantiating on import, so the host compiles (and caps)
 *   every core module itself, passes the WASI import object, sees every core instance, and
 *   can instantiate again after a trap.
 * - WASI: in instantiation mode jco emits no `import` statements; it reads each import from
 *   the import object under its unversioned interface name (`imports['wasi:cli/stdout']`),
 *   which are the keys of plugin-host/wasi/imports.ts. `wasiShim: false` and an empty `map`
 *   make that explicit: nothing is routed to @bytecodealliance/preview2-shim.
 * - `base64Cutoff: 0`: every core module is a separate .wasm file the host can rewrite.
 * - `noComponentErrorWrapping: true`: an `err(message)` result is thrown as the bare payload
 *   (the guest's string), which the loader turns into a GuestError.
 */
export function transpileOptions(): NonNullable<Parameters<typeof transpileBytes>[1]> {
  return {
    name: 'plugin',
    instantiation: 'async',
    base64Cutoff: 0,
    wasiShim: false,
    map: {},
    noComponentErrorWrapping: true,
    emitTypescriptDeclarations: false,
  };
}

async function transpile({ bytes, maxJavaScriptBytes }: TranspileRequest): Promise<TranspileReply> {
  const { files } = await transpileBytes(bytes, transpileOptions());
  const entries = Object.entries(files);
  const javaScriptBytes = entries.filter(([name]) => !name.endsWith('.wasm')).reduce((n, [, content]) => n + content.byteLength, 0);
  if (javaScriptBytes > maxJavaScriptBytes) {
    return {
      ok: false,
      problem: `its transpiled JavaScript would be ${mib(javaScriptBytes)}, more than the limit of ${mib(maxJavaScriptBytes)}; export fewer functions`,
    };
  }
  // The build's source map (protocol/source-map-section.ts), for the host to map a guest's
  // stack with; one too large is left out, and the stack stays the bundle's.
  const sourceMap = readSourceMap(bytes);
  if (sourceMap && sourceMap.byteLength <= MAX_SOURCE_MAP_BYTES) entries.push([SOURCE_MAP_FILE, sourceMap.slice()]);
  return { ok: true, files: entries };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

if (parentPort) {
  const port = parentPort;
  transpile(workerData as TranspileRequest).then(
    (reply) => port.postMessage(reply, reply.ok ? [...new Set(reply.files.map(([, content]) => content.buffer as ArrayBuffer))] : []),
    (error: unknown) => port.postMessage({ ok: false, problem: `jco could not transpile it: ${describeError(error)}` } satisfies TranspileReply),
  );
}
