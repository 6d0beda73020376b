/**
 * The `artifact` resource of the 1.1.0 interface (`artifact-keeper:format/artifact-source`),
 * implemented by the plugin host over the artifact of the call in progress.
 *
 * The supervisor names a file in its staging folder (the only part of the data directory the
 * child may read); the host opens it read-only and answers the guest's reads with positional
 * reads, so the artifact never sits whole in the host or in the guest. The guest never sees
 * the path: it holds a borrowed handle, valid for the call it was lent to.
 *
 * jco's bindings do not enforce the borrow rules themselves (a guest may return without
 * dropping the handle, and a handle index kept across calls may name a later artifact), so
 * the host does: the core import that drops the handle is wrapped to see the drop, a read
 * after the drop or outside the call fails, and a call that returns with its handle not
 * dropped fails. Each is an `ArtifactMisuse`, after which the instance is replaced (its
 * handle table is no longer trustworthy), as after a trap.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ARTIFACT_SOURCE_INTERFACE } from '../protocol/wit-interfaces.js';

const DROP_IMPORT = '[resource-drop]artifact';
/**
 * jco keys borrowed host objects by this representation (`Symbol.for('cabiRep')`) in a table
 * it never empties; one fixed representation keeps that table at one entry instead of one per
 * call. A stale handle then names at most the current call's artifact, never an old one.
 */
const JCO_REP = Symbol.for('cabiRep');
const LENT_REP = 1;

/** The guest broke the resource's rules; the message says which. */
export class ArtifactMisuse extends Error {
  override name = 'ArtifactMisuse';
}

/** A read larger than the guest's memory could ever hold: refused before the host allocates it. */
export class ReadTooLarge extends Error {
  override name = 'ReadTooLarge';
  constructor(readonly length: number) {
    super(`the plugin asked to read ${length} bytes of its artifact at once, more than its memory limit can hold`);
  }
}

/** The artifact of one call, as the supervisor describes it (protocol/methods.ts `ArtifactParams`). */
export type ArtifactInput = { data: Uint8Array } | { file: string };

/** An artifact opened for one call: its size and positional reads. */
export interface OpenArtifact {
  readonly size: number;
  /** `length` bytes from `offset`, fewer at the end; the caller keeps both within the size. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function openArtifact(input: ArtifactInput): OpenArtifact {
  if ('data' in input) {
    const { data } = input;
    return { size: data.byteLength, read: (offset, length) => data.slice(offset, offset + length), close: () => undefined };
  }
  // Read-only: the child's permissions allow nothing else, and nothing else is needed.
  const fd = openSync(input.file, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const n = readSync(fd, buffer, filled, length - filled, offset + filled);
        if (n === 0) break;
        filled += n;
      }
      return new Uint8Array(buffer.buffer, buffer.byteOffset, filled);
    },
    close: () => closeSync(fd),
  };
}

/** The whole artifact, for a 1.0.0 guest, which takes it as one `list<u8>`. */
export function readWhole(input: ArtifactInput): Uint8Array {
  if ('data' in input) return input.data;
  const artifact = openArtifact(input);
  try {
    return artifact.read(0, artifact.size);
  } finally {
    artifact.close();
  }
}

interface Loan {
  readonly host: object;
  readonly artifact: OpenArtifact;
  dropped: boolean;
}

/** One instance's `artifact` resource: the class its bindings import, and the loan of the call in progress. */
export class ArtifactResource {
  /** The class passed as `imports['artifact-keeper:format/artifact-source'].Artifact`. */
  readonly hostClass: new () => object;
  private loan: Loan | undefined;

  constructor(private readonly maxReadBytes: number) {
    const resource = this;
    this.hostClass = class Artifact {
      size(): bigint {
        return BigInt(resource.current(this, 'size').size);
      }

      read(offset: bigint, length: number): Uint8Array {
        const artifact = resource.current(this, 'read');
        if (offset >= BigInt(artifact.size)) return new Uint8Array(0);
        const start = Number(offset);
        const count = Math.min(length, artifact.size - start);
        if (count > resource.maxReadBytes) throw new ReadTooLarge(count);
        return artifact.read(start, count);
      }
    };
  }

  /**
   * Lends `input` to `call` (which receives the host object to pass as the borrow), then
   * closes it. A call that returns with the handle not dropped fails with ArtifactMisuse.
   */
  lend<T>(input: ArtifactInput, call: (artifact: object) => T): T {
    const host = new this.hostClass();
    Object.defineProperty(host, JCO_REP, { value: LENT_REP });
    const loan: Loan = { host, artifact: openArtifact(input), dropped: false };
    this.loan = loan;
    try {
      const result = call(host);
      if (!loan.dropped) {
        throw new ArtifactMisuse('the plugin returned without dropping the artifact handle it was lent; a borrowed handle must be dropped before the call returns');
      }
      return result;
    } finally {
      this.loan = undefined;
      loan.artifact.close();
    }
  }

  /**
   * Wraps the core import through which the guest drops its handle, so the host sees the
   * drop. Given every core instance's imports (`instantiateCore`); leaves others alone.
   */
  watchDrops(imports: WebAssembly.Imports | undefined): WebAssembly.Imports | undefined {
    const module = imports?.[ARTIFACT_SOURCE_INTERFACE];
    const drop = module?.[DROP_IMPORT];
    if (!imports || typeof drop !== 'function') return imports;
    const watched = Object.assign((...args: unknown[]) => {
      // The drop of the handle of the call in progress; anything else jco checks itself.
      if (this.loan) this.loan.dropped = true;
      return (drop as (...a: unknown[]) => unknown)(...args);
    }, drop);
    return { ...imports, [ARTIFACT_SOURCE_INTERFACE]: { ...module, [DROP_IMPORT]: watched } };
  }

  private current(host: object, method: string): OpenArtifact {
    const loan = this.loan;
    if (!loan || loan.host !== host) {
      throw new ArtifactMisuse(`the plugin called artifact.${method} on a handle it was not lent by the call in progress`);
    }
    if (loan.dropped) throw new ArtifactMisuse(`the plugin called artifact.${method} after dropping its artifact handle`);
    return loan.artifact;
  }
}
