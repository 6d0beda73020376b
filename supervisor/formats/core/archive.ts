/**
 * Bounded readers of the containers the core formats are made of: gzip (npm, cargo, helm and
 * Python sdist tarballs; a gem's metadata.gz; a .deb's control.tar.gz), tar (node-tar's
 * parser), ar (read here: a 60-byte header per member, the container of a .deb) and zip
 * (yauzl: jars, wheels, .nupkg, Go module zips).
 *
 * Every reader reads the whole container structure, so a truncated or damaged file is
 * rejected, but keeps only the members the caller asks for, each up to a size cap; gzip is
 * decompressed as a stream and given up past its cap, so a compression bomb costs neither
 * memory nor unbounded time. Every failure is an `ArtifactInvalid` whose message starts with
 * `what` (the artifact or artifact part, e.g. "the crate", "the .deb member control.tar.gz")
 * and says what is wrong with it.
 */
import zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { ArtifactInvalid } from '../errors.js';

export const MiB = 1024 * 1024;
/** Largest manifest (package.json, Cargo.toml, Chart.yaml, METADATA, POM) read. */
export const MANIFEST_CAP = MiB;
/** Most bytes a tarball may decompress to before it is refused. */
export const DEFAULT_TOTAL_CAP = 512 * MiB;
/** Most members an archive may list. */
export const MAX_ENTRIES = 100_000;

export interface ArchiveLimits {
  /** Largest member kept, in bytes; a wanted member above it is refused. */
  memberCap?: number;
  /** Most decompressed bytes of a whole tarball. */
  totalCap?: number;
}

export interface ArchiveContents {
  /** Every member path (regular files, directories and links), in archive order, `./` prefix removed. */
  paths: string[];
  /** The wanted regular files, by path. */
  members: Map<string, Buffer>;
}

/** "16 MiB" for whole mebibytes, "1000 bytes" otherwise. */
export function formatBytes(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} bytes`;
}

/** The file name: the last segment of an artifact path. */
export function baseName(artifactPath: string): string {
  return artifactPath.split('/').filter(Boolean).at(-1) ?? '';
}

/** Decodes strict UTF-8 (a leading byte-order mark is dropped); `expected` names the encoding in the error. */
export function decodeUtf8(bytes: Uint8Array, what: string, expected: 'UTF-8' | 'UTF-8 text' = 'UTF-8'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ArtifactInvalid(`${what} is not valid ${expected}`);
  }
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function normalizeMemberPath(p: string): string {
  return p.replace(/^(\.\/)+/, '');
}

// ---------------------------------------------------------------------------------------------
// gzip

export function isGzip(data: Uint8Array): boolean {
  return data.byteLength >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** Why a gzip stream could not be decompressed; each public reader words it for its artifact. */
class GzipFailure extends Error {
  constructor(readonly reason: 'too-large' | 'truncated' | 'damaged', message: string) {
    super(message);
  }
}

/**
 * The one gzip decompressor: streams `data` through zlib, handing each decompressed chunk to
 * `onChunk`, and gives up (rejecting with a `GzipFailure`) past `cap` bytes or on a damaged or
 * truncated stream. `onChunk` may throw an `ArtifactInvalid` to stop. Resolves with the total.
 */
function inflate(data: Uint8Array, cap: number, onChunk: (chunk: Buffer) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const gunzip = zlib.createGunzip();
    let total = 0;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      reject(error);
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      total += chunk.length;
      if (total > cap) return fail(new GzipFailure('too-large', `more than ${formatBytes(cap)}`));
      try {
        onChunk(chunk);
      } catch (error) {
        fail(error as Error);
      }
    });
    gunzip.on('error', (error: NodeJS.ErrnoException) => fail(new GzipFailure(error.code === 'Z_BUF_ERROR' ? 'truncated' : 'damaged', error.message)));
    gunzip.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(total);
    });
    gunzip.end(toBuffer(data));
  });
}

/** Decompresses gzip data (an embedded blob such as metadata.gz), refusing to produce more than `cap` bytes. */
export async function gunzipCapped(data: Uint8Array, cap: number, what: string): Promise<Buffer> {
  if (!isGzip(data)) throw new ArtifactInvalid(`${what} is not gzip data`);
  const chunks: Buffer[] = [];
  try {
    await inflate(data, cap, (chunk) => chunks.push(chunk));
  } catch (error) {
    if (!(error instanceof GzipFailure)) throw error;
    if (error.reason === 'too-large') throw new ArtifactInvalid(`${what} decompresses to ${error.message}`);
    if (error.reason === 'truncated') throw new ArtifactInvalid(`${what} is truncated (unexpected end of gzip data)`);
    throw new ArtifactInvalid(`${what} is damaged gzip data: ${error.message}`);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// tar

interface TarReader {
  write(chunk: Buffer): void;
  /** Ends the archive: rejects a damaged one, or one without its end-of-archive marker. */
  end(): ArchiveContents;
}

/**
 * The one tar reader: fed the (decompressed) archive bytes chunk by chunk, it lists every member
 * and keeps the regular files `want` accepts, each at most `memberCap` bytes. It throws (from
 * `write` or `end`) an `ArtifactInvalid` for a damaged archive, a wanted member that is too large,
 * not a regular file or present twice, more than MAX_ENTRIES members, or a missing end-of-archive
 * marker (two zero blocks: a tar cut at a block boundary parses cleanly without this check).
 *
 * `fileIsTar`: the bytes are the artifact file itself (a plain tar), so a cut inside a member means
 * the file is truncated; inside a gzip stream that was complete, it means the tar is not valid.
 */
function tarReader(what: string, want: (memberPath: string) => boolean, memberCap: number, fileIsTar: boolean): TarReader {
  const paths: string[] = [];
  const members = new Map<string, Buffer>();
  let failure: ArtifactInvalid | null = null;
  let total = 0;
  // The last 1024 bytes: a complete tar archive ends with two zero blocks.
  let tail: Buffer = Buffer.alloc(0);
  const parser = new Parser({ strict: true });

  const fail = (message: string): void => {
    failure ??= new ArtifactInvalid(message);
  };
  const parseError = (message: string): void => {
    const detail = message.replace(/^TAR_BAD_ARCHIVE: /, '');
    if (fileIsTar && /^Truncated input/i.test(detail)) fail(`${what} is truncated: ${detail}`);
    else fail(`${what} is not a valid tar archive: ${message}`);
  };
  parser.on('error', (error: Error) => parseError(error.message));
  parser.on('warn', (_code: string, message: string | Error) => parseError(typeof message === 'string' ? message : message.message));
  parser.on('entry', (entry: ReadEntry) => {
    const memberPath = normalizeMemberPath(entry.path);
    if (paths.length >= MAX_ENTRIES) {
      fail(`${what} has more than ${MAX_ENTRIES} members`);
      entry.resume();
      return;
    }
    paths.push(memberPath);
    if (failure || !want(memberPath)) {
      entry.resume();
      return;
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
      fail(`${memberPath} in ${what} is not a regular file (it is a ${entry.type})`);
    } else if (members.has(memberPath)) {
      fail(`${what} contains ${memberPath} more than once`);
    } else if ((entry.size ?? 0) > memberCap) {
      fail(`${memberPath} in ${what} is larger than ${formatBytes(memberCap)} (${entry.size} bytes)`);
    } else {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => members.set(memberPath, Buffer.concat(chunks)));
      return;
    }
    entry.resume();
  });

  return {
    write(chunk) {
      if (failure) throw failure;
      total += chunk.length;
      tail = tail.length + chunk.length <= 1024 ? Buffer.concat([tail, chunk]) : Buffer.concat([tail, chunk]).subarray(-1024);
      parser.write(chunk);
      if (failure) throw failure;
    },
    end() {
      if (failure) throw failure;
      parser.end();
      if (failure) throw failure;
      if (total === 0) throw new ArtifactInvalid(`${what} is an empty tar archive`);
      if (total % 512 !== 0 || tail.length < 1024 || tail.some((byte) => byte !== 0)) {
        throw new ArtifactInvalid(`${what} is truncated: the tar archive does not end with its end-of-archive marker`);
      }
      return { paths, members };
    },
  };
}

/**
 * Reads a plain (uncompressed) tar archive held in memory, keeping the regular files for which
 * `want` is true (each at most `memberCap`, default MANIFEST_CAP).
 */
export async function readTar(data: Uint8Array, what: string, want: (memberPath: string) => boolean, limits: ArchiveLimits = {}): Promise<ArchiveContents> {
  if (isGzip(data)) throw new ArtifactInvalid(`${what} is gzip-compressed; a plain tar archive was expected`);
  const reader = tarReader(what, want, limits.memberCap ?? MANIFEST_CAP, true);
  reader.write(toBuffer(data));
  return reader.end();
}

/**
 * Reads a gzip-compressed tar archive, keeping the regular files for which `want` is true.
 * Rejects: not gzip, a damaged or truncated gzip stream, a damaged or truncated tar archive
 * (including one cut at a block boundary: the end-of-archive marker must be there), a
 * decompressed size above `totalCap`, a wanted member above `memberCap` or not a regular file.
 */
export async function readTarGz(data: Uint8Array, what: string, want: (memberPath: string) => boolean, limits: ArchiveLimits = {}): Promise<ArchiveContents> {
  if (!isGzip(data)) throw new ArtifactInvalid(`${what} is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b)`);
  const reader = tarReader(what, want, limits.memberCap ?? MANIFEST_CAP, false);
  let total: number;
  try {
    total = await inflate(data, limits.totalCap ?? DEFAULT_TOTAL_CAP, (chunk) => reader.write(chunk));
  } catch (error) {
    if (!(error instanceof GzipFailure)) throw error;
    if (error.reason === 'too-large') throw new ArtifactInvalid(`${what} decompresses to ${error.message}`);
    throw new ArtifactInvalid(`${what} is not a valid gzip stream: ${error.message}`);
  }
  if (total === 0) throw new ArtifactInvalid(`${what} is empty once decompressed`);
  return reader.end();
}

// ---------------------------------------------------------------------------------------------
// ar

export interface ArMember {
  name: string;
  data: Buffer;
}

/**
 * Reads a Unix `ar` archive (the container of a .deb): "!<arch>\n", then per member a
 * 60-byte header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10, "`\n") and the data,
 * padded to an even offset. GNU "name/" endings are accepted. Members are views, not copies.
 */
export function readAr(data: Uint8Array, what: string): ArMember[] {
  const buf = toBuffer(data);
  if (buf.length < 8 || buf.toString('latin1', 0, 8) !== '!<arch>\n') {
    throw new ArtifactInvalid(`${what} is not an ar archive (missing the "!<arch>" signature)`);
  }
  const members: ArMember[] = [];
  let offset = 8;
  while (offset < buf.length) {
    if (offset === buf.length - 1 && buf[offset] === 0x0a) break;
    if (offset + 60 > buf.length) throw new ArtifactInvalid(`${what} is truncated: incomplete ar member header at byte ${offset}`);
    const header = buf.toString('latin1', offset, offset + 60);
    if (header.slice(58, 60) !== '`\n') throw new ArtifactInvalid(`${what} has a damaged ar member header at byte ${offset}`);
    const name = header.slice(0, 16).trimEnd().replace(/\/$/, '');
    const sizeText = header.slice(48, 58).trim();
    if (!/^\d+$/.test(sizeText)) throw new ArtifactInvalid(`${what} has a damaged ar member header at byte ${offset} (size "${sizeText}")`);
    const size = Number(sizeText);
    const start = offset + 60;
    if (start + size > buf.length) {
      throw new ArtifactInvalid(`${what} is truncated: ar member ${name} needs ${size} bytes, only ${buf.length - start} remain`);
    }
    members.push({ name, data: buf.subarray(start, start + size) });
    offset = start + size + (size % 2);
  }
  return members;
}

// ---------------------------------------------------------------------------------------------
// zip

export interface ZipListing {
  /** Entry names, exactly as stored, in central-directory order. */
  names: string[];
  /** Reads one entry, refusing more than `cap` uncompressed bytes (declared or actual). */
  read(name: string, cap: number): Promise<Buffer>;
  close(): void;
}

/** Opens a zip held in memory and lists its central directory, without inflating anything. */
export async function openZip(data: Uint8Array, what: string): Promise<ZipListing> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    yauzl.fromBuffer(toBuffer(data), { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (error, file) => {
      if (error || !file) reject(new ArtifactInvalid(`${what} is not a valid zip archive: ${error?.message ?? 'unreadable'}`));
      else resolve(file);
    });
  });
  const entries = new Map<string, yauzl.Entry>();
  const repeated = new Set<string>();
  const names: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        if (names.length >= MAX_ENTRIES) return reject(new ArtifactInvalid(`${what} has more than ${MAX_ENTRIES} members`));
        names.push(entry.fileName);
        if (entries.has(entry.fileName)) repeated.add(entry.fileName);
        else entries.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.on('end', () => resolve());
      zip.on('error', (error: Error) => reject(new ArtifactInvalid(`${what} is not a valid zip archive: ${error.message}`)));
      zip.readEntry();
    });
  } catch (error) {
    zip.close();
    throw error;
  }
  return {
    names,
    close: () => zip.close(),
    read: (name, cap) => {
      const entry = entries.get(name);
      if (!entry) return Promise.reject(new ArtifactInvalid(`${what} has no entry ${name}`));
      if (repeated.has(name)) return Promise.reject(new ArtifactInvalid(`${what} contains ${name} more than once`));
      if (entry.uncompressedSize > cap) {
        return Promise.reject(new ArtifactInvalid(`${what} entry ${name} is ${entry.uncompressedSize} bytes, more than the ${formatBytes(cap)} allowed`));
      }
      return new Promise<Buffer>((resolve, reject) => {
        zip.openReadStream(entry, (error, stream) => {
          if (error || !stream) {
            reject(new ArtifactInvalid(`${what} entry ${name} cannot be read: ${error?.message ?? 'no data'}`));
            return;
          }
          const chunks: Buffer[] = [];
          let total = 0;
          stream.on('data', (chunk: Buffer) => {
            total += chunk.length;
            if (total > cap) {
              stream.destroy();
              reject(new ArtifactInvalid(`${what} entry ${name} decompresses to more than ${formatBytes(cap)}`));
              return;
            }
            chunks.push(chunk);
          });
          stream.on('error', (streamError: Error) => reject(new ArtifactInvalid(`${what} entry ${name} is damaged: ${streamError.message}`)));
          stream.on('end', () => resolve(Buffer.concat(chunks)));
        });
      });
    },
  };
}

/**
 * Reads a zip archive's central directory (through `openZip`), keeping the files for which
 * `want` is true, each inflated under `memberCap` (default MANIFEST_CAP).
 */
export async function readZip(data: Uint8Array, what: string, want: (memberPath: string) => boolean, limits: ArchiveLimits = {}): Promise<ArchiveContents> {
  const memberCap = limits.memberCap ?? MANIFEST_CAP;
  const zip = await openZip(data, what);
  try {
    const paths = zip.names.map(normalizeMemberPath);
    const members = new Map<string, Buffer>();
    for (const [index, memberPath] of paths.entries()) {
      if (memberPath.endsWith('/') || !want(memberPath)) continue;
      if (members.has(memberPath)) throw new ArtifactInvalid(`${what} contains ${memberPath} more than once`);
      members.set(memberPath, await zip.read(zip.names[index]!, memberCap));
    }
    return { paths, members };
  } finally {
    zip.close();
  }
}
