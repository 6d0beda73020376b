/**
 * The plugin host: the program each plugin child process runs.
 *
 * It loads one transpiled component (with its linear memory capped), then serves the
 * RPC methods of ../protocol/methods.ts over stdin/stdout in binary frames. Every request
 * is acknowledged as soon as it is read off the pipe, before it runs, so the supervisor
 * can tell a hung child from a long call.
 *
 * stdout carries the RPC stream and nothing else: the host takes fd 1 for itself and points
 * `process.stdout` (hence `console.log`) at stderr before anything can print.
 *
 * Usage: node plugin-host/main.js --entry <transpiled plugin.js> --memory-bytes <n>
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { describeError } from '../protocol/error-text.js';

const rpcOut = new net.Socket({ fd: 1, readable: false, writable: true });
Object.defineProperty(process, 'stdout', { value: process.stderr, configurable: true });

// Everything else is imported only now, so no module can capture the real stdout first.
const { createMessageConnection, ResponseError } = await import('vscode-jsonrpc/node');
const { BinaryMessageReader, BinaryMessageWriter } = await import('../protocol/framing.js');
const methods = await import('../protocol/methods.js');
const loader = await import('./loader.js');
const { AckingReader } = await import('./acking-reader.js');
const { guestLinePrefix } = await import('../protocol/log-lines.js');
const { ArtifactMisuse } = await import('./artifact.js');

const { values: args } = parseArgs({
  options: {
    entry: { type: 'string' },
    'memory-bytes': { type: 'string' },
  },
});
if (!args.entry || !args['memory-bytes']) {
  process.stderr.write('usage: main.js --entry <plugin.js> --memory-bytes <n>\n');
  process.exit(2);
}
const memoryLimitBytes = Number(args['memory-bytes']);

/**
 * Replies may be held for a few event-loop turns and leave together (see the writer), but
 * never across the start of a guest call for longer than this: a reply held through a long
 * call would look, to the supervisor, like time spent on the call it answers.
 */
const MAX_REPLY_HOLD_MS = 1;

const writer = new BinaryMessageWriter(rpcOut);
const reader = new AckingReader(new BinaryMessageReader(process.stdin), (ids) => {
  void connection.sendNotification(methods.Ack, { ids });
  // An ack is only worth anything if it leaves now, before a possibly long call starts.
  writer.flush();
});
const connection = createMessageConnection(reader, writer);

const pluginLoading = loader.loadPlugin({
  entry: args.entry,
  memoryLimitBytes,
  log: (stream, text) => process.stderr.write(`${guestLinePrefix(stream)}${text}`),
});
// A load failure is reported to the supervisor through the readiness call, never thrown here.
pluginLoading.catch(() => undefined);

let callsTotal = 0;

/** Runs one guest call and turns the loader's typed failures into JSON-RPC errors. */
async function guestCall<T>(call: (plugin: Awaited<typeof pluginLoading>) => Promise<T>): Promise<T> {
  callsTotal++;
  const plugin = await pluginLoading;
  writer.flushIfOlderThan(MAX_REPLY_HOLD_MS);
  try {
    return await call(plugin);
  } catch (error) {
    throw toResponseError(error);
  }
}

function toResponseError(error: unknown): InstanceType<typeof ResponseError> {
  const { PluginErrorCode } = methods;
  if (error instanceof loader.GuestError) return new ResponseError(PluginErrorCode.GuestError, error.message);
  // The message names the limit; the supervisor knows it already and reads no data.
  if (error instanceof loader.MemoryLimitExceeded) return new ResponseError(PluginErrorCode.MemoryLimit, error.message);
  if (error instanceof loader.NotSupported) return new ResponseError(PluginErrorCode.NotSupported, error.message);
  // The instance was replaced, as after a trap: the supervisor counts it the same way.
  if (error instanceof ArtifactMisuse) return new ResponseError(PluginErrorCode.GuestTrap, error.message);
  const message = describeError(error);
  return new ResponseError(PluginErrorCode.GuestTrap, message);
}

connection.onRequest(methods.Ready, async () => {
  let plugin;
  try {
    plugin = await pluginLoading;
  } catch (error) {
    const message = describeError(error);
    throw new ResponseError(methods.PluginErrorCode.LoadFailed, `could not load the component: ${message}`);
  }
  const formatKey = await guestCall((p) => p.formatKey());
  return { formatKey, interfaceVersion: plugin.interfaceVersion, handlesRequests: plugin.handlesRequests, memoryLimitBytes };
});

connection.onRequest(methods.Stats, async () => {
  const plugin = await pluginLoading.catch(() => undefined);
  const memory = process.memoryUsage();
  return {
    wasmMemoryBytes: plugin?.wasmMemoryBytes() ?? 0,
    heapUsedBytes: memory.heapUsed,
    rssBytes: memory.rss,
    callsTotal,
    instantiations: plugin?.instantiations ?? 0,
  };
});

connection.onRequest(methods.FormatKey, () => guestCall((p) => p.formatKey()));
connection.onRequest(methods.ParseMetadata, (params) => guestCall((p) => p.parseMetadata(params.path, artifactInput(params))));
connection.onRequest(methods.Validate, (params) => guestCall(async (p) => (await p.validate(params.path, artifactInput(params)), null)));
connection.onRequest(methods.GenerateIndex, ({ artifacts, context }) => guestCall((p) => p.generateIndex(artifacts, context ?? NO_CONTEXT)));
connection.onRequest(methods.HandleRequest, ({ request, context, artifacts }) =>
  guestCall((p) => p.handleRequest(request, context, methods.decodeArtifacts(artifacts))),
);

const NO_CONTEXT = { repoKey: '', baseUrl: '', downloadBaseUrl: '' };

/** The call's artifact: the staged file the supervisor named, or the bytes it sent. */
function artifactInput({ data, file }: import('../protocol/methods.js').ArtifactParams): import('./artifact.js').ArtifactInput {
  if (file !== undefined) return { file };
  if (data !== undefined) return { data };
  throw new ResponseError(methods.PluginErrorCode.NotSupported, 'the call carried neither the artifact nor its file');
}

// The supervisor closing our stdin means it is gone or wants us gone.
connection.onClose(() => process.exit(0));
process.stdin.on('end', () => process.exit(0));
connection.listen();
