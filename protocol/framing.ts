/**
 * Binary frames for vscode-jsonrpc: a MessageReader and a MessageWriter that move byte
 * fields (`Uint8Array`, including `Buffer`) as raw bytes next to the JSON, never as base64
 * or arrays of numbers.
 *
 * Wire format. Every message is one frame:
 *
 *   offset 0   u32 big-endian  J = byte length of the JSON section
 *   offset 4   u32 big-endian  B = byte length of the binary section
 *   offset 8   J bytes         JSON section, UTF-8
 *   offset 8+J B bytes         binary section: the message's byte arrays, back to back
 *
 * The JSON section is a JSON array, either `[message]` when the message holds no byte
 * array, or `[message, table]`. In `message` each byte array is replaced by `null`; `table`
 * lists them in the order their bytes appear in the binary section, one `[path, byteLength]`
 * entry each, where `path` is the list of object keys (strings) and array indices (numbers)
 * leading from the message to the field, e.g. `[["params", "data"], 1024]`. The binary
 * section is exactly the sum of the table's lengths.
 *
 * Why a side table instead of an in-band placeholder such as `{"$b": n}`: the positions of
 * byte arrays are metadata outside the message, so no user string or key, whatever it
 * contains, can be mistaken for one, and nothing has to be escaped. It also spares the
 * reader a walk over the whole parsed message: it follows only the listed paths.
 *
 * Byte arrays are found in arrays and in objects' own enumerable properties, as
 * JSON.stringify would serialize them. An object with a `toJSON` method (a Date, say) is
 * serialized by that method and not searched. Other typed arrays are not byte fields.
 *
 * The reader hands out byte fields as `Uint8Array` views into the received data, without
 * copying; a view keeps the chunk it points into alive. The writer sends the caller's byte
 * arrays without copying large ones, so they must not be modified until write() resolves.
 *
 * The writer hands each frame to the stream whole, never header and body in separate
 * writes, and coalesces frames written in quick succession into one writev (see
 * BinaryMessageWriter.write).
 */
import type { Readable, Writable } from 'node:stream';
import {
  AbstractMessageReader,
  AbstractMessageWriter,
  Disposable,
  type DataCallback,
  type Message,
  type MessageReader,
  type MessageWriter,
} from 'vscode-jsonrpc';

/** Bytes before the JSON section: the two u32 lengths. */
export const FRAME_HEADER_SIZE = 8;

/** Default `maxFrameSize` of a reader: 512 MiB, header included. */
export const DEFAULT_MAX_FRAME_SIZE = 512 * 1024 * 1024;

/** The largest section length a u32 header field can carry. */
const MAX_SECTION_LENGTH = 0xffff_ffff;

/**
 * Frames whose byte arrays total at most this many bytes are encoded into one buffer;
 * copying a few KiB costs less than extra chunks. Larger byte arrays are handed to the
 * stream as they are, as further chunks of the same writev.
 */
const INLINE_BINARY_LIMIT = 16 * 1024;

/** Event-loop turns a batch of frames may keep growing before it is written; see write(). */
const MAX_BATCH_TURNS = 8;

type PathSegment = string | number;

/** One byte array of a message: where it sits and how long it is. */
type TableEntry = [path: PathSegment[], byteLength: number];

export interface BinaryMessageReaderOptions {
  /**
   * Largest frame accepted, header included, in bytes (default 512 MiB). A larger frame
   * fires an error and is skipped without being buffered.
   */
  maxFrameSize?: number;
}

export class BinaryMessageReader extends AbstractMessageReader implements MessageReader {
  private readonly maxFrameSize: number;
  private callback: DataCallback | undefined;
  /**
   * Received bytes of an incomplete header or frame, in arrival order. They are joined only
   * once `neededLength` bytes are there, so a large frame is copied once, not once per chunk.
   * (Copying each chunk into a frame allocated up front, once the header is known, measured
   * slower for 1 MiB frames.)
   */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private neededLength = FRAME_HEADER_SIZE;
  /** Bytes of an oversized frame still to be dropped as they arrive. */
  private skipLength = 0;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onEnd = (): void => {
    if (this.pendingLength > 0 || this.skipLength > 0) {
      this.fireError(new Error(`Stream ended inside a frame (${this.pendingLength} bytes of an incomplete frame)`));
      this.pending = [];
      this.pendingLength = 0;
      this.skipLength = 0;
    }
  };
  private readonly onStreamError = (error: Error): void => this.fireError(error);
  private readonly onStreamClose = (): void => this.fireClose();

  constructor(
    private readonly readable: Readable,
    options: BinaryMessageReaderOptions = {},
  ) {
    super();
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    // Subscribed now rather than in listen(): a stream 'error' without a listener would
    // crash the process.
    readable.on('error', this.onStreamError);
    readable.on('end', this.onEnd);
    readable.on('close', this.onStreamClose);
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    this.readable.on('data', this.onData);
    return Disposable.create(() => this.readable.off('data', this.onData));
  }

  override dispose(): void {
    super.dispose();
    this.readable.off('data', this.onData);
    this.readable.off('error', this.onStreamError);
    this.readable.off('end', this.onEnd);
    this.readable.off('close', this.onStreamClose);
  }

  private receive(chunk: Buffer): void {
    if (this.skipLength > 0) {
      if (chunk.length <= this.skipLength) {
        this.skipLength -= chunk.length;
        return;
      }
      chunk = chunk.subarray(this.skipLength);
      this.skipLength = 0;
    }
    if (this.pendingLength > 0) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      if (this.pendingLength < this.neededLength) return;
      chunk = Buffer.concat(this.pending, this.pendingLength);
      this.pending = [];
      this.pendingLength = 0;
    }
    this.parseFrames(chunk);
  }

  /** Delivers every complete frame in `data`; keeps an incomplete tail for later. */
  private parseFrames(data: Buffer): void {
    let offset = 0;
    for (;;) {
      const available = data.length - offset;
      if (available < FRAME_HEADER_SIZE) {
        if (available > 0) this.keepTail(data.subarray(offset), FRAME_HEADER_SIZE);
        return;
      }
      const jsonLength = data.readUInt32BE(offset);
      const binaryLength = data.readUInt32BE(offset + 4);
      const frameLength = FRAME_HEADER_SIZE + jsonLength + binaryLength;
      if (frameLength > this.maxFrameSize) {
        this.fireError(
          new Error(`Incoming frame of ${frameLength} bytes exceeds the maximum frame size of ${this.maxFrameSize} bytes; frame skipped`),
        );
        if (available < frameLength) {
          this.skipLength = frameLength - available;
          return;
        }
      } else if (available < frameLength) {
        this.keepTail(data.subarray(offset), frameLength);
        return;
      } else {
        this.deliver(data, offset + FRAME_HEADER_SIZE, jsonLength, binaryLength);
      }
      offset += frameLength;
    }
  }

  private keepTail(tail: Buffer, neededLength: number): void {
    this.pending.push(tail);
    this.pendingLength = tail.length;
    this.neededLength = neededLength;
  }

  private deliver(data: Buffer, jsonStart: number, jsonLength: number, binaryLength: number): void {
    let message: Message;
    try {
      message = decodeFrame(data, jsonStart, jsonLength, binaryLength);
    } catch (error) {
      // The frame boundaries are intact, so the frames after a bad one are still readable.
      this.fireError(error);
      return;
    }
    try {
      this.callback!(message);
    } catch (error) {
      this.fireError(error);
    }
  }
}

export class BinaryMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private errorCount = 0;
  /** The last error reported, so that a failed write and the stream's 'error' event for it fire once. */
  private lastError: unknown;
  /** Reused across writes: the path from the message to the value being searched. */
  private readonly path: PathSegment[] = [];
  /** Frames held back (the stream is corked) to leave in one writev; see write(). */
  private batch: { frames: number; framesAtLastTurn: number; turns: number; bytes: number; startedAt: number } | undefined;
  private batchTimer: NodeJS.Immediate | undefined;

  private readonly onStreamError = (error: Error): void => {
    if (error === this.lastError) return;
    this.lastError = error;
    this.fireError(error);
  };
  private readonly onStreamClose = (): void => this.fireClose();
  private readonly onTurnEnd = (): void => this.endOfTurn();

  constructor(private readonly writable: Writable) {
    super();
    writable.on('error', this.onStreamError);
    writable.on('close', this.onStreamClose);
  }

  /**
   * Queues `msg` as one frame. Frames written in quick succession are coalesced into one
   * writev: a pipe write (and waking the reader) costs more than encoding a small message,
   * and vscode-jsonrpc's connection handles one message per event-loop turn, so the replies
   * to a burst of requests come one turn apart. The stream is corked while a batch grows;
   * the batch goes out at the first setImmediate turn that added nothing to it, after
   * MAX_BATCH_TURNS turns, or at once when it reaches the stream's high-water mark. So a
   * lone message waits one turn, and a large frame does not wait.
   *
   * Resolves once the frame has been written to the stream's destination, like the stream's
   * own write callback, which also makes callers wait when the pipe is full; rejects, and
   * fires onError with the message, if it could not be encoded or written.
   */
  write(msg: Message): Promise<void> {
    if (this.writable.errored) return this.fail(this.writable.errored, msg);
    if (this.writable.destroyed || this.writable.writableEnded) {
      return this.fail(new Error('Cannot write message: the stream is closed'), msg);
    }
    let frame: Array<Uint8Array>;
    let frameLength: number;
    try {
      [frame, frameLength] = this.encodeFrame(msg);
    } catch (error) {
      return this.fail(error, msg);
    }
    return new Promise<void>((resolve, reject) => {
      if (this.batch === undefined) {
        this.writable.cork();
        this.batch = { frames: 0, framesAtLastTurn: 1, turns: 0, bytes: 0, startedAt: performance.now() };
        this.batchTimer = setImmediate(this.onTurnEnd);
      }
      // Chunks of one writev complete together, so the first chunk's callback speaks for the frame.
      this.writable.write(frame[0], (error) => {
        if (error) {
          this.reportWriteError(error, msg);
          reject(error);
        } else {
          resolve();
        }
      });
      for (let i = 1; i < frame.length; i++) this.writable.write(frame[i]);
      this.batch.frames++;
      this.batch.bytes += frameLength;
      if (this.batch.bytes >= this.writable.writableHighWaterMark) this.flush();
    });
  }

  end(): void {
    this.flush();
    this.writable.end();
  }

  override dispose(): void {
    this.flush();
    super.dispose();
    this.writable.off('error', this.onStreamError);
    this.writable.off('close', this.onStreamClose);
  }

  /** Sends the held frames if the oldest has waited longer than `maxAgeMs`. */
  flushIfOlderThan(maxAgeMs: number): void {
    if (this.batch !== undefined && performance.now() - this.batch.startedAt > maxAgeMs) this.flush();
  }

  private endOfTurn(): void {
    const batch = this.batch!;
    if (batch.frames > batch.framesAtLastTurn && batch.turns < MAX_BATCH_TURNS) {
      batch.framesAtLastTurn = batch.frames;
      batch.turns++;
      this.batchTimer = setImmediate(this.onTurnEnd);
    } else {
      this.flush();
    }
  }

  /**
   * Sends the held frames now. For a writer whose event loop is about to be blocked (the
   * plugin host before a guest call): held frames would otherwise wait for the whole call.
   */
  flush(): void {
    if (this.batch === undefined) return;
    clearImmediate(this.batchTimer);
    this.batch = undefined;
    this.writable.uncork();
  }

  /**
   * Encodes `msg` as the chunks of one frame: the header and JSON, with small byte arrays
   * copied in after them, then large byte arrays as they are. Returns them and their total length.
   */
  private encodeFrame(msg: Message): [chunks: Array<Uint8Array>, frameLength: number] {
    const table: TableEntry[] = [];
    const blobs: Uint8Array[] = [];
    const stripped = replaceByteArrays(msg, this.path, table, blobs);
    const json = JSON.stringify(table.length === 0 ? [stripped] : [stripped, table]);
    let binaryLength = 0;
    for (const blob of blobs) binaryLength += blob.byteLength;
    const jsonLength = Buffer.byteLength(json);
    if (jsonLength > MAX_SECTION_LENGTH || binaryLength > MAX_SECTION_LENGTH) {
      throw new Error(`Message too large for one frame (JSON ${jsonLength} bytes, binary ${binaryLength} bytes)`);
    }

    const inline = binaryLength <= INLINE_BINARY_LIMIT;
    const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE + jsonLength + (inline ? binaryLength : 0));
    head.writeUInt32BE(jsonLength, 0);
    head.writeUInt32BE(binaryLength, 4);
    head.write(json, FRAME_HEADER_SIZE);
    const frameLength = FRAME_HEADER_SIZE + jsonLength + binaryLength;
    if (inline) {
      let position = FRAME_HEADER_SIZE + jsonLength;
      for (const blob of blobs) {
        head.set(blob, position);
        position += blob.byteLength;
      }
      return [[head], frameLength];
    }
    const chunks: Uint8Array[] = [head];
    for (const blob of blobs) {
      if (blob.byteLength > 0) chunks.push(blob);
    }
    return [chunks, frameLength];
  }

  private fail(error: unknown, msg: Message): Promise<void> {
    this.reportWriteError(error, msg);
    return Promise.reject(error);
  }

  private reportWriteError(error: unknown, msg: Message): void {
    // Node fails every write queued behind a failed one with the same error object.
    if (error === this.lastError) return;
    this.lastError = error;
    this.errorCount++;
    this.fireError(error, msg, this.errorCount);
  }
}

/**
 * Returns `value` itself when it contains no byte array, otherwise a copy in which each one
 * is replaced by null; only the objects and arrays on the way to a byte array are copied,
 * the caller's message is never modified. Each byte array found is appended to `blobs`, and
 * its path (`path` holds the current one) and length to `table`. Strings and numbers are
 * never looked into.
 */
function replaceByteArrays(value: object, path: PathSegment[], table: TableEntry[], blobs: Uint8Array[]): unknown {
  if (value instanceof Uint8Array) {
    table.push([path.slice(), value.byteLength]);
    blobs.push(value);
    return null;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' || item === null) continue;
      path.push(i);
      const replaced = replaceByteArrays(item, path, table, blobs);
      path.pop();
      if (replaced !== item) {
        copy ??= value.slice();
        copy[i] = replaced;
      }
    }
    return copy ?? value;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  let copy: Record<string, unknown> | undefined;
  // for-in with an own-property check measured faster than Object.keys() here.
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item !== 'object' || item === null || !Object.hasOwn(value, key)) continue;
    path.push(key);
    const replaced = replaceByteArrays(item, path, table, blobs);
    path.pop();
    if (replaced !== item) {
      copy ??= { ...value };
      copy[key] = replaced;
    }
  }
  return copy ?? value;
}

/** Parses one frame's JSON section and puts its byte arrays back as views into `data`. */
function decodeFrame(data: Buffer, jsonStart: number, jsonLength: number, binaryLength: number): Message {
  const binaryStart = jsonStart + jsonLength;
  const root: unknown = JSON.parse(data.toString('utf8', jsonStart, binaryStart));
  if (!Array.isArray(root) || root.length < 1 || root.length > 2) {
    throw new Error('Malformed frame: the JSON section is not [message] or [message, table]');
  }
  const message: unknown = root[0];
  let consumed = 0;
  if (root.length === 2) {
    const table: unknown = root[1];
    if (!Array.isArray(table)) throw new Error('Malformed frame: the byte array table is not an array');
    for (const entry of table) {
      const byteLength = entryLength(entry);
      if (consumed + byteLength > binaryLength) throw new Error('Malformed frame: byte arrays overrun the binary section');
      const view = new Uint8Array(data.buffer, data.byteOffset + binaryStart + consumed, byteLength);
      placeAt(message, (entry as TableEntry)[0], view);
      consumed += byteLength;
    }
  }
  if (consumed !== binaryLength) throw new Error('Malformed frame: byte arrays do not fill the binary section');
  return message as Message;
}

function entryLength(entry: unknown): number {
  if (Array.isArray(entry) && entry.length === 2 && Array.isArray(entry[0]) && entry[0].length > 0) {
    const byteLength: unknown = entry[1];
    if (typeof byteLength === 'number' && Number.isSafeInteger(byteLength) && byteLength >= 0) return byteLength;
  }
  throw new Error('Malformed frame: bad byte array table entry');
}

/**
 * Stores `view` at `path` inside `message`, where the writer left a null. Every step must be
 * an own property, so a crafted path cannot reach a prototype.
 */
function placeAt(message: unknown, path: unknown[], view: Uint8Array): void {
  let container = message;
  const last = path.length - 1;
  for (let i = 0; i <= last; i++) {
    const key = path[i];
    if (
      typeof container !== 'object' ||
      container === null ||
      (typeof key !== 'string' && typeof key !== 'number') ||
      !Object.hasOwn(container, key)
    ) {
      throw new Error(`Malformed frame: byte array path ${JSON.stringify(path)} does not exist in the message`);
    }
    const record = container as Record<PathSegment, unknown>;
    if (i === last) {
      if (record[key] !== null) throw new Error(`Malformed frame: byte array path ${JSON.stringify(path)} does not hold null`);
      record[key] = view;
    } else {
      container = record[key];
    }
  }
}
