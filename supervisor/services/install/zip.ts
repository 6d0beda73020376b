/**
 * A ZIP upload → a folder with the package. Archives are hostile until proven otherwise:
 * entry names are checked before anything is written (no `..`, absolute paths, backslashes
 * or drive letters), links and special files are refused, and sizes are bounded three ways:
 * the number of entries, the total uncompressed size (counted while inflating, not taken
 * from the headers) and the compression ratio of each entry.
 *
 * Error codes: 400 `invalid_zip` (not a ZIP, corrupt, unsupported), 400 `unsafe_zip` (an
 * entry that would land outside the folder or is not a plain file or folder), 400 `zip_bomb`
 * (an entry whose compression ratio is beyond any real plugin's, or that inflates past its
 * declared size), 413 `zip_too_large` (too many entries or too many bytes in total).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { ServiceError, validationFailed } from '../errors.js';
import { type FetchedTree, MANIFEST_FILE } from './package.js';
import { unsafeRelativePath } from '../../relative-path.js';
import { makeTempDir, removeDir } from './paths.js';
import { describeError } from '../../../protocol/error-text.js';

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the entries' uncompressed sizes. */
  maxTotalBytes: number;
  /** Uncompressed:compressed ratio above which an entry is a bomb... */
  maxRatio: number;
  /** ...once it is bigger than this (small files of zeros compress that well legitimately). */
  ratioMinBytes: number;
}

const MiB = 1024 * 1024;
/** Real packages hold a manifest, a component and a few sources: tens of files, tens of MB. */
const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 1000,
  maxTotalBytes: 256 * MiB,
  maxRatio: 200,
  ratioMinBytes: MiB,
};

export interface ZipOptions {
  workDir: string;
  /** Overrides of DEFAULT_ZIP_LIMITS (tests lower them). */
  zipLimits?: Partial<ZipLimits>;
}

const LOCAL_FILE_HEADER = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Resource forks the macOS archiver adds beside the real top folder; never part of a package. */
const MACOS_METADATA = '__MACOSX';

const invalidZip = (message: string) => new ServiceError(400, 'invalid_zip', message);
const unsafeZip = (message: string) => new ServiceError(400, 'unsafe_zip', message);
const zipBomb = (message: string) => new ServiceError(400, 'zip_bomb', message);
const zipTooLarge = (message: string) => new ServiceError(413, 'zip_too_large', message);

/**
 * Extracts the archive into a fresh folder under `workDir`. The package is at the archive's
 * root or under its single top folder. Nothing is left behind on failure.
 */
export async function fetchFromZip(zipFilePath: string, options: ZipOptions): Promise<FetchedTree> {
  const limits = { ...DEFAULT_ZIP_LIMITS, ...options.zipLimits };
  const dir = await makeTempDir(options.workDir, 'zip');
  try {
    const files = await extract(zipFilePath, dir, limits);
    return {
      root: path.join(dir, packageFolder(files)),
      source: { type: 'wasm_zip', url: null, ref: null, resolvedCommit: null, path: null },
      cleanup: () => removeDir(dir),
    };
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

/** Writes every entry below `dir`; returns the relative names of the files written. */
async function extract(zipFilePath: string, dir: string, limits: ZipLimits): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    // Names stay raw bytes: yauzl's own decoding turns backslashes into "/" and reports
    // unsafe names as anonymous errors, and the caller deserves the entry's name.
    zip = await yauzl.openPromise(zipFilePath, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (error) {
    throw await openFailure(error, zipFilePath);
  }
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw zipTooLarge(`the ZIP has ${zip.entryCount} entries; at most ${limits.maxEntries} are accepted`);
    }
    const files: string[] = [];
    const inflated = { total: 0 };
    let declaredTotal = 0;
    for await (const entry of readEntries(zip)) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
      const kind = checkEntry(entry, name, limits);
      // Safe to normalize once checked ("./a//b/" → "a/b"): without ".." it cannot climb.
      const relative = path.posix.normalize(name).replace(/\/+$/, '');
      if (relative === '.' || relative.split('/')[0] === MACOS_METADATA) continue;

      declaredTotal += entry.uncompressedSize;
      if (declaredTotal > limits.maxTotalBytes) throw totalTooLarge(limits);
      const target = path.join(dir, relative);
      try {
        if (kind === 'folder') {
          await mkdir(target, { recursive: true });
        } else {
          await mkdir(path.dirname(target), { recursive: true });
          await writeEntry(zip, entry, relative, target, inflated, limits);
          files.push(relative);
        }
      } catch (error) {
        throw clash(error, relative);
      }
    }
    return files;
  } finally {
    zip.close();
  }
}

/** The entries one at a time, with yauzl's errors (truncated directory...) reported as corruption. */
async function* readEntries(zip: yauzl.ZipFile): AsyncGenerator<yauzl.Entry> {
  const entries = zip.eachEntry();
  while (true) {
    let next: IteratorResult<yauzl.Entry>;
    try {
      next = await entries.next();
    } catch (error) {
      throw corruption(error);
    }
    if (next.done) return;
    yield next.value;
  }
}

/** Refuses what must never be extracted; says whether the entry is a file or a folder. */
function checkEntry(entry: yauzl.Entry, name: string, limits: ZipLimits): 'file' | 'folder' {
  const unsafe = unsafeRelativePath(name);
  if (unsafe !== null) throw unsafeZip(`the ZIP entry "${name}" cannot be extracted safely: ${unsafe}`);
  // The Unix mode (file type included) sits in the high 16 bits of the external attributes;
  // archivers on other systems leave it 0.
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type === S_IFLNK) throw unsafeZip(`the ZIP entry "${name}" is a symbolic link; a package may only hold files and folders`);
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw unsafeZip(`the ZIP entry "${name}" is a special file (mode ${type.toString(8)}); a package may only hold files and folders`);
  }
  if (name.endsWith('/') || type === S_IFDIR) return 'folder';

  if (entry.isEncrypted()) throw invalidZip(`the ZIP entry "${name}" is encrypted; upload an unencrypted archive`);
  if (!entry.canDecodeFileData()) {
    const method = entry.compressionMethod;
    throw invalidZip(`the ZIP entry "${name}" uses compression method ${method}; only stored and deflated entries are supported`);
  }
  const ratio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
  if (entry.uncompressedSize > limits.ratioMinBytes && ratio > limits.maxRatio) {
    throw zipBomb(
      `the ZIP entry "${name}" inflates ${Math.round(ratio)}:1 (${entry.compressedSize} to ${entry.uncompressedSize} bytes); ` +
        `entries over ${limits.ratioMinBytes} bytes may compress at most ${limits.maxRatio}:1`,
    );
  }
  return 'file';
}

/** Inflates one entry into `target` (created exclusively), counting and checksumming the bytes. */
async function writeEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  name: string,
  target: string,
  inflated: { total: number },
  limits: ZipLimits,
): Promise<void> {
  let crc = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inflated.total += chunk.length;
      if (inflated.total > limits.maxTotalBytes) return callback(totalTooLarge(limits));
      crc = crc32(chunk, crc);
      callback(null, chunk);
    },
  });
  let stream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (error) {
    throw corruption(error, name);
  }
  try {
    await pipeline(stream, counter, createWriteStream(target, { flags: 'wx' }));
  } catch (error) {
    if (error instanceof ServiceError) throw error;
    const message = describeError(error);
    // yauzl's validateEntrySizes: the data inflates past the size its header declares.
    if (message.startsWith('too many bytes in the stream')) {
      throw zipBomb(`the ZIP entry "${name}" inflates past its declared size of ${entry.uncompressedSize} bytes`);
    }
    // File system errors (EEXIST...) are the caller's to explain; anything else is damaged data.
    if ((error as NodeJS.ErrnoException).code?.startsWith('E')) throw error;
    throw corruption(error, name);
  }
  // yauzl does not check CRCs; a damaged entry must not pass for a good one.
  if (crc !== entry.crc32) throw invalidZip(`the ZIP entry "${name}" is corrupt: its CRC-32 does not match its contents`);
}

/** The folder holding the package: the root when plugin.toml is there, else the only top folder. */
function packageFolder(files: string[]): string {
  if (files.includes(MANIFEST_FILE)) return '';
  const tops = [...new Set(files.map((file) => file.split('/')[0]!))].sort();
  if (tops.length === 1 && files.every((file) => file.includes('/'))) return tops[0]!;
  const found = tops.length === 0 ? 'it holds no files' : `its top level holds ${tops.map((top) => `"${top}"`).join(', ')}`;
  throw validationFailed('plugin_validation_failed', `the ZIP has no ${MANIFEST_FILE} at its root or in a single top folder: ${found}`, [
    { field: MANIFEST_FILE, message: `put ${MANIFEST_FILE} at the root of the ZIP or in its only top folder (${found})` },
  ]);
}

const totalTooLarge = (limits: ZipLimits) =>
  zipTooLarge(`the ZIP's files add up to more than ${limits.maxTotalBytes} bytes uncompressed, the most accepted`);

function corruption(error: unknown, entry?: string): ServiceError {
  const reason = describeError(error);
  return invalidZip(`the ZIP archive is corrupt${entry === undefined ? '' : ` (entry "${entry}")`}: ${reason}`);
}

/**
 * Why the archive could not be opened, as the caller should hear it. Without its end record a
 * file is no ZIP; one that starts like a ZIP was cut short (an interrupted upload).
 */
async function openFailure(error: unknown, zipFilePath: string): Promise<unknown> {
  // A file system error (the upload is missing...) is the server's problem, not the archive's.
  if ((error as NodeJS.ErrnoException).code !== undefined) return error;
  const reason = describeError(error);
  if (!/end of central directory record signature not found/i.test(reason)) return corruption(error);
  const handle = await open(zipFilePath, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32LE(0) === LOCAL_FILE_HEADER
      ? invalidZip('the ZIP archive is truncated: its central directory is missing')
      : invalidZip('the file is not a ZIP archive');
  } finally {
    await handle.close();
  }
}

/** A file system refusal while extracting: two entries claim the same path, or a file stands where a folder must go. */
function clash(error: unknown, name: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
    return invalidZip(`the ZIP entry "${name}" clashes with another entry of the same path`);
  }
  if (code === 'ENAMETOOLONG') return invalidZip(`the ZIP entry "${name}" has a path too long to extract`);
  return error;
}
