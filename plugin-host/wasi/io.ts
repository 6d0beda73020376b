/**
 * `wasi:io` (error, poll, streams) for the plugin host: just enough for a guest's stdio.
 *
 * jco binds imported resources to these classes: the guest receives handles to instances
 * the host created, and jco checks `instanceof` when they come back. A stream error is
 * thrown as its WIT variant value (a plain object), which jco lowers into the `err` case;
 * an `Error` thrown from here would instead trap the guest.
 *
 * Instances must never be shared between two instantiations of a component: jco stores the
 * handle it assigned on the object itself.
 */

export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: IoError };

/** `wasi:io/error.error`. Nothing here fails after a write was accepted, so none is ever made. */
export class IoError {
  toDebugString(): string {
    return 'plugin host I/O error';
  }
}

/** A pollable that is ready now or at a monotonic-clock deadline (nanoseconds). */
export class Pollable {
  constructor(readonly readyAtNs: bigint = 0n) {}

  ready(): boolean {
    return process.hrtime.bigint() >= this.readyAtNs;
  }

  /** WASI calls are synchronous for the guest, so waiting has to block the thread. */
  block(): void {
    const remainingNs = this.readyAtNs - process.hrtime.bigint();
    if (remainingNs > 0n) sleepSync(Number(remainingNs / 1_000_000n) + 1);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(milliseconds: number): void {
  Atomics.wait(sleepCell, 0, 0, milliseconds);
}

/** `wasi:io/poll.poll`: blocks until at least one pollable is ready, returns the ready indices. */
export function poll(pollables: Pollable[]): Uint32Array {
  if (pollables.length === 0) throw new Error('wasi:io/poll.poll called with an empty list');
  const ready = () => pollables.flatMap((p, i) => (p.ready() ? [i] : []));
  let indices = ready();
  if (indices.length === 0) {
    const earliest = pollables.reduce((a, b) => (a.readyAtNs <= b.readyAtNs ? a : b));
    earliest.block();
    indices = ready();
  }
  return Uint32Array.from(indices);
}

/** An input stream that is already at its end (stdin: a plugin gets no input that way). */
export class InputStream {
  read(_length: bigint): Uint8Array {
    throw { tag: 'closed' } satisfies StreamError;
  }
  blockingRead(_length: bigint): Uint8Array {
    throw { tag: 'closed' } satisfies StreamError;
  }
  skip(_length: bigint): bigint {
    throw { tag: 'closed' } satisfies StreamError;
  }
  blockingSkip(_length: bigint): bigint {
    throw { tag: 'closed' } satisfies StreamError;
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

/** Largest write a guest is invited to make at once (the answer to `check-write`). */
const WRITE_BUDGET_BYTES = 1n << 20n;

/**
 * An output stream whose bytes go to a sink synchronously, so it is always writable and
 * flushing is a no-op.
 */
export class OutputStream {
  constructor(private readonly sink: (bytes: Uint8Array) => void) {}

  checkWrite(): bigint {
    return WRITE_BUDGET_BYTES;
  }
  write(contents: Uint8Array): void {
    this.sink(contents);
  }
  blockingWriteAndFlush(contents: Uint8Array): void {
    this.sink(contents);
  }
  flush(): void {}
  blockingFlush(): void {}
  writeZeroes(length: bigint): void {
    this.sink(new Uint8Array(Number(length)));
  }
  blockingWriteZeroesAndFlush(length: bigint): void {
    this.sink(new Uint8Array(Number(length)));
  }
  /** The only input stream a guest can hold is the empty stdin, so a splice never moves bytes. */
  splice(_source: InputStream, _length: bigint): bigint {
    throw { tag: 'closed' } satisfies StreamError;
  }
  blockingSplice(_source: InputStream, _length: bigint): bigint {
    throw { tag: 'closed' } satisfies StreamError;
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}
