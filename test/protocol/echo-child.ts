/**
 * Child process for the framing tests: speaks binary frames on stdin/stdout and echoes.
 *
 * - `echo`: returns its params unchanged (byte fields included).
 * - `fail`: answers with a ResponseError whose `data` is the params.
 * - `zeros`: returns `{ data }` with `length` zero bytes, so the parent can receive a large
 *   frame without sending one.
 */
// The /node entry point installs the runtime layer (timers) the connection needs.
import { createMessageConnection, ResponseError } from 'vscode-jsonrpc/node';
import { BinaryMessageReader, BinaryMessageWriter } from '../../protocol/framing.js';

const connection = createMessageConnection(
  new BinaryMessageReader(process.stdin),
  new BinaryMessageWriter(process.stdout),
);
connection.onRequest('echo', (params: unknown) => params);
connection.onRequest('fail', (params: unknown) => new ResponseError(-32010, 'failed on request', params));
connection.onRequest('zeros', ({ length }: { length: number }) => ({ data: new Uint8Array(length) }));
// The parent closing stdin is the signal to leave.
connection.onClose(() => process.exit(0));
connection.listen();
