// A small ZIP writer for tests: real archives (stored or deflated entries, Unix modes),
// including the ones no honest archiver writes: names with ".." or backslashes, symbolic
// links, and headers that lie about an entry's size.
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  /** Written as is (UTF-8); a name ending in "/" is a folder. */
  name: string;
  data?: Uint8Array | string;
  /** Unix mode with the file type bits, e.g. 0o120777 for a symbolic link; 0o100644 by default. */
  mode?: number;
  method?: 'store' | 'deflate';
  /** Already deflated bytes (with `method: 'deflate'`), to avoid deflating huge inputs twice. */
  compressed?: Uint8Array;
  /** The uncompressed size the headers declare, when it must differ from the data's. */
  declaredSize?: number;
  /** The CRC-32 the headers declare, when it must differ from the data's. */
  declaredCrc?: number;
}

const UTF8_NAMES = 0x0800;
const MADE_BY_UNIX = 3 << 8;

export function makeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : Buffer.from(entry.data ?? new Uint8Array());
    const folder = entry.name.endsWith('/');
    const method = entry.method ?? (folder ? 'store' : 'deflate');
    const body = method === 'store' ? data : Buffer.from(entry.compressed ?? deflateRawSync(data));
    const crc = entry.declaredCrc ?? crc32(data);
    const size = entry.declaredSize ?? data.length;
    const mode = entry.mode ?? (folder ? 0o040755 : 0o100644);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(method === 'store' ? 0 : 8, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY_UNIX | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(method === 'store' ? 0 : 8, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((mode << 16) | (folder ? 0x10 : 0)) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
