// A streaming reader of tar archives (POSIX ustar and pax, which is what tar tools write
// today): bytes go in by `push`, in chunks of any size; each entry comes out through
// `onEntry` once its body has gone by. Bodies are skipped, except those `keepBody` asks
// for, so an archive of any size is read in little memory.

export interface TarEntry {
  /** Path inside the archive, with ustar's prefix field and pax's `path` applied. */
  name: string;
  /** The typeflag: '0' a regular file, '5' a directory, ... */
  type: string;
  size: number;
}

export interface TarReaderOptions {
  keepBody: (entry: TarEntry) => boolean;
  /** `body` is the entry's contents when `keepBody` asked for them. */
  onEntry: (entry: TarEntry, body: Uint8Array | undefined) => void;
}

const BLOCK = 512;

/** Failures are thrown as message strings. */
export class TarReader {
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  /** The entry whose body is passing by, and how many of its bytes (padding included) are left. */
  private current: { entry: TarEntry; remaining: number; padding: number; chunks: Uint8Array[] | undefined } | undefined;
  /** A pax extended header's `path`, for the entry after it. */
  private nextPath: string | undefined;
  private entryCount = 0;
  private ended = false;

  constructor(private readonly options: TarReaderOptions) {}

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) {
        // After the end-of-archive block, tar tools pad with zeros to their record size.
        if (chunk[at] !== 0) throw 'damaged tar: data after the end-of-archive marker';
        at++;
      } else if (this.current) {
        at += this.consumeBody(chunk.subarray(at));
      } else {
        const taken = Math.min(BLOCK - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + taken), this.headerFill);
        this.headerFill += taken;
        at += taken;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.readHeader();
        }
      }
    }
  }

  /** Call once the whole archive went through `push`. */
  end(): void {
    if (this.current) {
      const { entry, remaining, padding } = this.current;
      const read = entry.size - Math.max(0, remaining - padding);
      throw `damaged tar: the archive ends inside "${entry.name}" (${read} of ${entry.size} bytes)`;
    }
    if (this.headerFill > 0) throw `damaged tar: the archive ends inside the header of entry ${this.entryCount + 1}`;
    if (this.entryCount === 0) throw 'not a tar archive: no entries';
  }

  private readHeader(): void {
    const header = this.header;
    if (header.every((byte) => byte === 0)) {
      this.ended = true;
      return;
    }
    const position = `entry ${this.entryCount + 1}`;
    // The checksum is the byte sum of the header with its own field read as spaces.
    const stored = octal(header, 148, 8);
    let sum = 8 * 0x20;
    for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += header[i];
    if (sum !== stored) {
      if (this.entryCount === 0) throw 'not a tar archive: the first header has no valid checksum';
      const claimed = Number.isNaN(stored) ? 'a garbled checksum' : `checksum ${stored}`;
      throw `damaged tar: the header of ${position} has ${claimed}, but its bytes add up to ${sum}`;
    }

    const type = header[156] === 0 ? '0' : String.fromCharCode(header[156]);
    const ustar = text(header, 257, 6) === 'ustar';
    const name = (ustar && header[345] !== 0 ? `${text(header, 345, 155)}/` : '') + text(header, 0, 100);
    const size = octal(header, 124, 12);
    if (Number.isNaN(size)) throw `damaged tar: the size of ${position} ("${name}") is not an octal number`;
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.entryCount++;

    if (type === 'x' || type === 'g') {
      // pax headers: `x` describes the next entry (its body is read for `path`), `g` all
      // later ones (nothing in it matters here).
      const chunks = type === 'x' ? [] : undefined;
      this.current = { entry: { name, type, size }, remaining: size + padding, padding, chunks };
    } else {
      const entry = { name: this.nextPath ?? name, type, size };
      this.nextPath = undefined;
      const chunks = this.options.keepBody(entry) ? [] : undefined;
      this.current = { entry, remaining: size + padding, padding, chunks };
    }
    if (this.current.remaining === 0) this.finishEntry();
  }

  /** Takes what belongs to the current entry from `bytes`; returns how much it took. */
  private consumeBody(bytes: Uint8Array): number {
    const current = this.current!;
    const taken = Math.min(current.remaining, bytes.length);
    const bodyLeft = current.remaining - current.padding;
    if (current.chunks && bodyLeft > 0) current.chunks.push(bytes.slice(0, Math.min(taken, bodyLeft)));
    current.remaining -= taken;
    if (current.remaining === 0) this.finishEntry();
    return taken;
  }

  private finishEntry(): void {
    const { entry, chunks } = this.current!;
    this.current = undefined;
    const body = chunks && concat(chunks);
    if (entry.type === 'x') {
      this.nextPath = paxRecords(body!, entry.name).get('path') ?? this.nextPath;
    } else if (entry.type !== 'g') {
      this.options.onEntry(entry, body);
    }
  }
}

/** A NUL- (or space-) terminated octal number field, as tar stores sizes and checksums; NaN if garbled. */
function octal(header: Uint8Array, offset: number, length: number): number {
  const digits = text(header, offset, length).trim();
  return /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : NaN;
}

/** A NUL-terminated string field. */
function text(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return utf8.decode(end === -1 ? field : field.subarray(0, end));
}

/** pax records: "<length> <key>=<value>\n", where length counts the whole record. */
function paxRecords(body: Uint8Array, name: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(utf8.decode(body.subarray(at, space)));
    if (!Number.isInteger(length) || length <= 0 || at + length > body.length) {
      throw `damaged tar: malformed pax header "${name}"`;
    }
    const record = utf8.decode(body.subarray(space + 1, at + length - 1));
    const equals = record.indexOf('=');
    if (equals <= 0) throw `damaged tar: malformed pax header "${name}"`;
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const result = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    result.set(chunk, at);
    at += chunk.length;
  }
  return result;
}

const utf8 = new TextDecoder();
