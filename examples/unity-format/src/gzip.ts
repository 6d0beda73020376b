// gunzip for single-member gzip files (RFC 1952). The header and trailer are checked here,
// so that each kind of damage gets its own message; the DEFLATE data in between is
// inflated by fflate, in chunks handed on as they come: the decompressed contents are
// never held whole, only the (smaller) compressed file is.
import { Inflate } from 'fflate';

/** Compressed bytes given to the inflater at a time; bounds each decompressed chunk too. */
const INPUT_CHUNK = 64 * 1024;

// Header flag bits (RFC 1952, section 2.3.1).
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * Inflates `data`, calling `onChunk` with the decompressed bytes in order, and checks them
 * against the trailer's CRC-32 and size. Failures are thrown as message strings; a string
 * thrown by `onChunk` passes through unchanged.
 */
export function gunzip(data: Uint8Array, onChunk: (chunk: Uint8Array) => void): void {
  const bodyStart = headerLength(data);
  const trailerStart = data.length - 8;
  if (trailerStart < bodyStart) throw 'damaged gzip: the file is cut off before its 8-byte trailer';

  let crc = CRC_INITIAL;
  let size = 0;
  const inflater = new Inflate((chunk) => {
    crc = crc32Update(crc, chunk);
    size += chunk.length;
    onChunk(chunk);
  });
  try {
    let at = bodyStart;
    do {
      const end = Math.min(at + INPUT_CHUNK, trailerStart);
      inflater.push(data.subarray(at, end), end === trailerStart);
      at = end;
    } while (at < trailerStart);
  } catch (error) {
    // fflate throws Errors ("unexpected EOF", "invalid distance"...); onChunk throws strings.
    if (error instanceof Error) throw `damaged gzip: the compressed data is invalid (${error.message})`;
    throw error;
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const expectedCrc = view.getUint32(trailerStart, true);
  const expectedSize = view.getUint32(trailerStart + 4, true);
  const actualCrc = (crc ^ 0xffffffff) >>> 0;
  if (actualCrc !== expectedCrc) {
    throw `damaged gzip: the contents' CRC-32 is ${hex(actualCrc)} but the trailer says ${hex(expectedCrc)}`;
  }
  // The trailer keeps the size modulo 2^32.
  if (size % 2 ** 32 !== expectedSize) {
    throw `damaged gzip: the contents are ${size} bytes but the trailer says ${expectedSize}`;
  }
}

/** Length of the member header, whose optional fields the flags announce. */
function headerLength(data: Uint8Array): number {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) {
    throw 'not a gzip file: it does not start with the gzip signature 1f 8b';
  }
  if (data.length < 10) throw 'damaged gzip: the header is cut off';
  if (data[2] !== 8) throw `unsupported gzip compression method ${data[2]} (8, deflate, is the only one)`;
  const flags = data[3];
  let at = 10;
  if (flags & FEXTRA) {
    if (at + 2 > data.length) throw 'damaged gzip: the header is cut off';
    at += 2 + (data[at] | (data[at + 1] << 8));
  }
  // FNAME and FCOMMENT are zero-terminated strings.
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      while (at < data.length && data[at] !== 0) at++;
      at++;
    }
  }
  if (flags & FHCRC) at += 2;
  if (at > data.length) throw 'damaged gzip: the header is cut off';
  return at;
}

// CRC-32 as gzip uses it (IEEE polynomial, reflected). JavaScript inside a component is
// interpreted, and this loop is most of the time spent on a package of incompressible
// assets; so it takes four bytes per step ("slicing-by-4": TABLES[k] advances a byte k more
// places), which measured about twice as fast as a lookup per byte.
const CRC_INITIAL = 0xffffffff;
const TABLES = [new Int32Array(256), new Int32Array(256), new Int32Array(256), new Int32Array(256)] as const;
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLES[0][n] = c;
}
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 4; k++) TABLES[k][n] = TABLES[0][TABLES[k - 1][n] & 0xff] ^ (TABLES[k - 1][n] >>> 8);
}

function crc32Update(crc: number, bytes: Uint8Array): number {
  const [t0, t1, t2, t3] = TABLES;
  let c = crc;
  let i = 0;
  // Whole 32-bit words, read little-endian (as WebAssembly memory is) when aligned.
  if (bytes.byteOffset % 4 === 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let w = 0; w < words.length; w++) {
      c ^= words[w];
      c = t3[c & 0xff] ^ t2[(c >>> 8) & 0xff] ^ t1[(c >>> 16) & 0xff] ^ t0[c >>> 24];
    }
    i = words.length * 4;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
