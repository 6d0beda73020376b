import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  createMessageConnection,
  ResponseError,
  type Message,
  type MessageConnection,
  type RequestMessage,
} from 'vscode-jsonrpc/node';
import {
  BinaryMessageReader,
  BinaryMessageWriter,
  FRAME_HEADER_SIZE,
  type BinaryMessageReaderOptions,
} from '../../protocol/framing.js';

const echoChildPath = fileURLToPath(new URL('./echo-child.js', import.meta.url));

function randomBytes(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

interface EchoChild {
  connection: MessageConnection;
  readerErrors: Error[];
  close(): Promise<void>;
}

function startEchoChild(readerOptions?: BinaryMessageReaderOptions): EchoChild {
  const child = spawn(process.execPath, [echoChildPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reader = new BinaryMessageReader(child.stdout, readerOptions);
  const readerErrors: Error[] = [];
  reader.onError((error) => readerErrors.push(error));
  const connection = createMessageConnection(reader, new BinaryMessageWriter(child.stdin));
  connection.listen();
  return {
    connection,
    readerErrors,
    async close() {
      const exited = once(child, 'exit');
      connection.dispose();
      child.stdin.end();
      await exited;
    },
  };
}

/** Records every chunk and how many _write / _writev calls delivered them. */
class SpyWritable extends Writable {
  writeCalls = 0;
  writevCalls = 0;
  readonly chunks: Buffer[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeCalls++;
    this.chunks.push(chunk);
    callback();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writevCalls++;
    for (const { chunk } of chunks) this.chunks.push(chunk);
    callback();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The frames `messages` encode to, as one buffer. */
async function encode(...messages: Message[]): Promise<Buffer> {
  const sink = new SpyWritable();
  const writer = new BinaryMessageWriter(sink);
  for (const message of messages) await writer.write(message);
  return sink.bytes();
}

function request(id: number, params: object): RequestMessage {
  return { jsonrpc: '2.0', id, method: 'echo', params };
}

/** A frame built by hand, to feed the reader what a correct writer would never produce. */
function rawFrame(json: string, binary: Uint8Array = new Uint8Array(0)): Buffer {
  const jsonBytes = Buffer.from(json);
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt32BE(jsonBytes.length, 0);
  header.writeUInt32BE(binary.length, 4);
  return Buffer.concat([header, jsonBytes, binary]);
}

function startReader(options?: BinaryMessageReaderOptions) {
  const input = new PassThrough();
  const reader = new BinaryMessageReader(input, options);
  const messages: Message[] = [];
  const errors: Error[] = [];
  reader.listen((message) => messages.push(message));
  reader.onError((error) => errors.push(error));
  return { input, messages, errors };
}

describe('binary framing over a real pipe to a child process', () => {
  let child: EchoChild;
  before(() => {
    child = startEchoChild();
  });
  after(async () => {
    await child.close();
  });

  it('round-trips nested byte fields byte-identical, as Uint8Array', async () => {
    const buffer = Buffer.from('a Buffer is a Uint8Array too');
    const backing = randomBytes(64);
    const params = {
      path: 'pkg/a-1.0.0.tgz',
      data: randomBytes(1000),
      files: [
        { path: 'index.json', content: randomBytes(3) },
        { path: 'empty', content: new Uint8Array(0) },
      ],
      deep: { list: [[randomBytes(5), 'text', 7], { buffer }], view: backing.subarray(10, 20) },
      top: [randomBytes(2), null, randomBytes(1)],
    };
    const result = await child.connection.sendRequest<typeof params>('echo', params);

    expect(result).to.deep.equal(params);
    expect(result.data).to.be.instanceOf(Uint8Array);
    expect(result.files[1].content).to.be.instanceOf(Uint8Array).with.lengthOf(0);
    const returnedBuffer = (result.deep.list[1] as { buffer: Uint8Array }).buffer;
    expect(returnedBuffer).to.be.instanceOf(Uint8Array);
    expect(Buffer.from(returnedBuffer).toString()).to.equal(buffer.toString());
  });

  it('carries a 0-byte and a 64 MiB payload', async function () {
    this.timeout(60_000);
    const empty = await child.connection.sendRequest<{ data: Uint8Array }>('echo', { data: new Uint8Array(0) });
    expect(empty.data).to.be.instanceOf(Uint8Array).with.lengthOf(0);

    const big = Buffer.from(randomBytes(64 * 1024 * 1024));
    const echoed = await child.connection.sendRequest<{ data: Uint8Array }>('echo', { data: big });
    expect(echoed.data).to.be.instanceOf(Uint8Array);
    expect(big.equals(echoed.data)).to.equal(true);
  });

  it('answers 1,000 concurrent requests correctly', async () => {
    const sent = Array.from({ length: 1000 }, (_, index) => ({ index, data: randomBytes(index * 7) }));
    const results = await Promise.all(sent.map((params) => child.connection.sendRequest('echo', params)));
    expect(results).to.deep.equal(sent);
  });

  it('leaves strings and keys that look like placeholders intact', async () => {
    const params = {
      string: '{"$b":[0,4]}',
      tableLookalike: '[{"params":null},[[["params","data"],4]]]',
      $b: [0, 4],
      nested: { $b: 0, $$b: '$b', data: null },
      list: [null, '$b', { $b: [0, 1] }, [['params', 'data'], 3]],
      data: new Uint8Array([1, 2, 3, 4]),
    };
    const result = await child.connection.sendRequest('echo', params);
    expect(result).to.deep.equal(params);
  });

  it('carries error responses with data, bytes included', async () => {
    const params = { reason: 'bad archive', data: randomBytes(300), entries: [{ bytes: randomBytes(4) }] };
    const error = await child.connection.sendRequest('fail', params).then(
      () => expect.fail('the request should have failed'),
      (failure: unknown) => failure,
    );
    expect(error).to.be.instanceOf(ResponseError);
    const responseError = error as ResponseError<typeof params>;
    expect(responseError.code).to.equal(-32010);
    expect(responseError.message).to.equal('failed on request');
    expect(responseError.data).to.deep.equal(params);
    expect(responseError.data?.data).to.be.instanceOf(Uint8Array);
  });

  it('parses a request written to the pipe one byte at a time', async () => {
    // A bare child: the test writes the bytes itself, so no connection on this side.
    const raw: ChildProcess = spawn(process.execPath, [echoChildPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    const reader = new BinaryMessageReader(raw.stdout!);
    const reply = new Promise<Message>((resolve) => reader.listen(resolve));

    const params = { data: randomBytes(40), note: 'split' };
    for (const byte of await encode(request(1, params))) {
      await new Promise((resolve) => raw.stdin!.write(Buffer.of(byte), resolve));
    }
    expect(await reply).to.deep.equal({ jsonrpc: '2.0', id: 1, result: params });

    const exited = once(raw, 'exit');
    raw.stdin!.end();
    await exited;
  });

  it('fires an error for a frame over the maximum size, skips it and keeps going', async () => {
    const limited = startEchoChild({ maxFrameSize: 1024 * 1024 });
    try {
      // Never answered: its response is the frame that gets dropped.
      const dropped = limited.connection.sendRequest('zeros', { length: 2 * 1024 * 1024 });
      dropped.catch(() => undefined);
      const data = randomBytes(100);
      const after = await limited.connection.sendRequest<{ data: Uint8Array }>('echo', { data });

      expect(limited.readerErrors).to.have.lengthOf(1);
      expect(limited.readerErrors[0].message).to.match(/exceeds the maximum frame size of 1048576 bytes/);
      expect(after.data).to.deep.equal(data);
    } finally {
      await limited.close();
    }
  });
});

describe('BinaryMessageReader', () => {
  it('parses a frame split byte by byte across chunks', async () => {
    const { input, messages, errors } = startReader();
    let chunks = 0;
    input.on('data', () => chunks++);
    const params = { data: randomBytes(20), text: 'é — multi-byte UTF-8 split mid-character' };
    const frame = await encode(request(1, params));
    for (const byte of frame) input.write(Buffer.of(byte));
    await nextTurn();

    expect(chunks).to.equal(frame.length);
    expect(errors).to.deep.equal([]);
    expect(messages).to.deep.equal([request(1, params)]);
  });

  it('parses many frames in one chunk, and frames straddling chunks', async () => {
    const { input, messages } = startReader();
    const sent = Array.from({ length: 50 }, (_, id) => request(id, { data: randomBytes(id * 3) }));
    const frames = await encode(...sent);
    input.write(frames.subarray(0, 1001));
    input.write(frames.subarray(1001));
    await nextTurn();
    expect(messages).to.deep.equal(sent);
  });

  it('hands out byte fields as views into the received chunk, not copies', async () => {
    const { input, messages } = startReader();
    const chunk = await encode(request(1, { data: randomBytes(100) }));
    input.write(chunk);
    await nextTurn();
    const data = (messages[0] as RequestMessage & { params: { data: Uint8Array } }).params.data;
    expect(data.buffer).to.equal(chunk.buffer);
    expect(Object.getPrototypeOf(data)).to.equal(Uint8Array.prototype);
  });

  it('rejects an oversized frame, within one chunk or across many, and reads the next ones', async () => {
    const { input, messages, errors } = startReader({ maxFrameSize: 1000 });
    const small = request(1, { data: randomBytes(10) });
    const smallFrame = await encode(small);
    const tooBig = [await encode(request(0, { data: randomBytes(5000) })), await encode(request(2, { data: randomBytes(2000) }))];
    const frames = Buffer.concat([tooBig[0], smallFrame, tooBig[1], smallFrame]);
    input.write(frames.subarray(0, 10));
    input.write(frames.subarray(10, 3000));
    input.write(frames.subarray(3000));
    await nextTurn();

    expect(errors.map((error) => error.message)).to.deep.equal(
      tooBig.map((frame) => `Incoming frame of ${frame.length} bytes exceeds the maximum frame size of 1000 bytes; frame skipped`),
    );
    expect(messages).to.deep.equal([small, small]);
  });

  it('reports malformed frames and still reads the frames after them', async () => {
    const { input, messages, errors } = startReader();
    const good = request(1, { text: 'ok' });
    input.write(
      Buffer.concat([
        rawFrame('{not json'),
        rawFrame('{"jsonrpc":"2.0"}'),
        rawFrame('[{"params":{}},[[["params","missing"],1]]]', Uint8Array.of(1)),
        rawFrame('[{"params":{}},[[["__proto__","polluted"],1]]]', Uint8Array.of(1)),
        rawFrame('[{"params":{"data":"taken"}},[[["params","data"],1]]]', Uint8Array.of(1)),
        rawFrame('[{"params":{"data":null}},[[["params","data"],2]]]', Uint8Array.of(1)),
        rawFrame('[{"params":{"data":null}},[[["params","data"],1]]]', Uint8Array.of(1, 2)),
        await encode(good),
      ]),
    );
    await nextTurn();

    expect(errors).to.have.lengthOf(7);
    expect(errors.slice(1).every((error) => error.message.startsWith('Malformed frame'))).to.equal(true);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(messages).to.deep.equal([good]);
  });

  it('restores a byte field under an own "__proto__" key as an own property', async () => {
    const { input, messages } = startReader();
    input.write(rawFrame('[{"params":{"__proto__":null}},[[["params","__proto__"],2]]]', Uint8Array.of(7, 8)));
    await nextTurn();
    const params = (messages[0] as RequestMessage).params as object;
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).to.deep.equal(Uint8Array.of(7, 8));
    expect(Object.getPrototypeOf(params)).to.equal(Object.prototype);
  });

  it('reports a stream that ends inside a frame', async () => {
    const { input, errors } = startReader();
    const frame = await encode(request(1, { data: randomBytes(10) }));
    input.end(frame.subarray(0, frame.length - 1));
    await once(input, 'end');
    expect(errors.map((error) => error.message)).to.deep.equal([
      `Stream ended inside a frame (${frame.length - 1} bytes of an incomplete frame)`,
    ]);
  });
});

describe('BinaryMessageWriter', () => {
  it('makes one write call per small message and one writev call per large one', async () => {
    const sink = new SpyWritable();
    const writer = new BinaryMessageWriter(sink);
    await writer.write(request(1, { data: randomBytes(1024) }));
    expect([sink.writeCalls, sink.writevCalls]).to.deep.equal([1, 0]);
    await writer.write(request(2, { data: randomBytes(100 * 1024), more: [randomBytes(50 * 1024)] }));
    expect([sink.writeCalls, sink.writevCalls]).to.deep.equal([1, 1]);
    await writer.write(request(3, { text: 'no bytes at all' }));
    expect([sink.writeCalls, sink.writevCalls]).to.deep.equal([2, 1]);
  });

  it('coalesces messages written in quick succession into one writev', async () => {
    const sink = new SpyWritable();
    const writer = new BinaryMessageWriter(sink);
    const sent = [request(1, { data: randomBytes(10) }), request(2, { text: 'two' }), request(3, { data: randomBytes(5) })];
    await Promise.all(sent.map((message) => writer.write(message)));
    expect([sink.writeCalls, sink.writevCalls]).to.deep.equal([0, 1]);

    const { input, messages } = startReader();
    input.write(sink.bytes());
    await nextTurn();
    expect(messages).to.deep.equal(sent);
  });

  it('hands a frame that fills the high-water mark to the stream at once', () => {
    const sink = new SpyWritable({ highWaterMark: 4096 });
    void new BinaryMessageWriter(sink).write(request(1, { data: randomBytes(5000) }));
    expect(sink.writeCalls + sink.writevCalls).to.equal(1);
  });

  it('flushes held messages on end()', async () => {
    const sink = new SpyWritable();
    const writer = new BinaryMessageWriter(sink);
    const message = request(1, { text: 'last words' });
    const written = writer.write(message);
    writer.end();
    await Promise.all([written, once(sink, 'finish')]);

    const { input, messages } = startReader();
    input.write(sink.bytes());
    await nextTurn();
    expect(messages).to.deep.equal([message]);
  });

  it('sends large byte arrays without copying them', async () => {
    const sink = new SpyWritable();
    const data = randomBytes(100 * 1024);
    await new BinaryMessageWriter(sink).write(request(1, { data }));
    expect(sink.chunks.map((chunk) => chunk.buffer)).to.include(data.buffer);
  });

  it('leaves the caller’s message unmodified', async () => {
    const data = randomBytes(8);
    const message = request(1, { list: [{ data }], other: { n: 1 } });
    const before = JSON.stringify(message);
    await encode(message);
    expect(JSON.stringify(message)).to.equal(before);
    expect((message.params as { list: Array<{ data: Uint8Array }> }).list[0].data).to.equal(data);
  });

  it('serializes an object with toJSON by that method, next to byte fields', async () => {
    const { input, messages } = startReader();
    const data = randomBytes(3);
    input.write(await encode(request(1, { when: new Date(0), data })));
    await nextTurn();
    expect((messages[0] as RequestMessage).params).to.deep.equal({ when: '1970-01-01T00:00:00.000Z', data });
  });

  it('resolves only once the stream has written the frame, so a slow stream holds callers back', async () => {
    const held: Array<() => void> = [];
    const sink = new Writable({
      highWaterMark: 1024,
      write: (_chunk, _encoding, callback) => held.push(callback),
    });
    const writer = new BinaryMessageWriter(sink);
    let settled = false;
    const written = writer.write(request(1, { data: randomBytes(4096) })).then(() => (settled = true));
    await nextTurn();
    expect(settled).to.equal(false);

    held.shift()!();
    await written;
    expect(settled).to.equal(true);
  });

  it('rejects and reports an error when the stream is closed', async () => {
    const sink = new SpyWritable();
    const writer = new BinaryMessageWriter(sink);
    const reported: Array<[Error, Message | undefined, number | undefined]> = [];
    writer.onError((event) => reported.push(event));
    sink.destroy();
    const message = request(1, { text: 'too late' });

    const failure = await writer.write(message).then(
      () => expect.fail('write should have failed'),
      (error: Error) => error,
    );
    expect(failure.message).to.match(/stream is closed/);
    expect(reported).to.deep.equal([[failure, message, 1]]);
  });

  it('reports a failed write once, with its message, and rejects', async () => {
    const boom = new Error('boom');
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback(boom) });
    const writer = new BinaryMessageWriter(sink);
    const reported: Array<[Error, Message | undefined, number | undefined]> = [];
    writer.onError((event) => reported.push(event));
    const message = request(1, { text: 'doomed' });

    const failure = await writer.write(message).then(
      () => expect.fail('write should have failed'),
      (error: Error) => error,
    );
    await nextTurn();
    expect(failure).to.equal(boom);
    expect(reported).to.deep.equal([[boom, message, 1]]);
  });

  it('reports a message JSON cannot represent', async () => {
    const writer = new BinaryMessageWriter(new SpyWritable());
    const reported: Error[] = [];
    writer.onError(([error]) => reported.push(error));
    const failure = await writer.write(request(1, { big: 1n })).then(
      () => expect.fail('write should have failed'),
      (error: Error) => error,
    );
    expect(failure).to.be.instanceOf(TypeError);
    expect(reported).to.deep.equal([failure]);
  });
});
