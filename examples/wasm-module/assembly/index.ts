// The `wasm-module` format, written in AssemblyScript: WebAssembly binaries (core modules
// and components), their structure checked section by section, versioned by file name
// (name-1.2.3.wasm), indexed as a SHA256SUMS file that `sha256sum -c` reads.
//
// The exports below are the WIT functions of artifact-keeper:format/handler@1.0.0 in the
// canonical ABI: flat parameters in, a pointer to the return area out. AssemblyScript
// cannot name an export `artifact-keeper:format/handler@1.0.0#parse-metadata`, so build.mjs
// renames them after compiling (see EXPORT_NAMES there).
import { checkBinary } from './binary';
import { liftString, RETURN_AREA, returnErr, storeBytes, storeOptionString, storeString } from './abi';
export { cabi_realloc, postReturn } from './abi';

/** format-key: func() -> string. Return area: +0 pointer, +4 length. */
export function formatKey(): usize {
  storeString(RETURN_AREA, 'wasm-module');
  return RETURN_AREA;
}

/**
 * validate: func(path: string, data: list<u8>) -> result<_, string>.
 * Return area: +0 discriminant (0 ok, 1 err), the error message at +4.
 */
export function validate(_pathPtr: usize, _pathLen: usize, dataPtr: usize, dataLen: usize): usize {
  const problem = checkBinary(dataPtr, dataLen);
  if (problem != null) return returnErr(problem, 4);
  store<u8>(RETURN_AREA, 0);
  return RETURN_AREA;
}

/**
 * parse-metadata: func(path: string, data: list<u8>) -> result<metadata, string>.
 * Return area: +0 discriminant; the payload at +8, as the record holds a u64:
 *   +8 path   +16 version: option<string>   +28 content-type   +40 size-bytes: u64
 *   +48 checksum-sha256: option<string> (none: the server computes it)
 */
export function parseMetadata(pathPtr: usize, pathLen: usize, dataPtr: usize, dataLen: usize): usize {
  const problem = checkBinary(dataPtr, dataLen);
  if (problem != null) return returnErr(problem, 8);
  const path = liftString(pathPtr, pathLen);
  store<u8>(RETURN_AREA, 0);
  storeString(RETURN_AREA + 8, path);
  storeOptionString(RETURN_AREA + 16, versionFromFileName(path));
  storeString(RETURN_AREA + 28, 'application/wasm');
  store<u64>(RETURN_AREA + 40, <u64>dataLen);
  store<u8>(RETURN_AREA + 48, 0);
  return RETURN_AREA;
}

// A `metadata` record in a list<metadata> argument: 56 bytes, aligned to 8.
const METADATA_SIZE: usize = 56;
const METADATA_PATH: usize = 0;
const METADATA_CHECKSUM: usize = 40; // option: discriminant, then the string at +4

/**
 * generate-index: func(artifacts: list<metadata>) -> result<option<list<tuple<string, list<u8>>>>, string>.
 * Return area: +0 discriminant (always ok), +4 option discriminant, +8 list pointer, +12 length.
 * One file, SHA256SUMS: a line "<sha256>  <path>" per artifact that has a checksum (the
 * server gives every stored artifact one).
 */
export function generateIndex(artifactsPtr: usize, artifactsLen: usize): usize {
  const lines = new Array<string>();
  for (let i: usize = 0; i < artifactsLen; i++) {
    const artifact = artifactsPtr + i * METADATA_SIZE;
    if (load<u8>(artifact + METADATA_CHECKSUM) == 0) continue;
    const checksum = liftString(load<usize>(artifact + METADATA_CHECKSUM + 4), load<usize>(artifact + METADATA_CHECKSUM + 8));
    const path = liftString(load<usize>(artifact + METADATA_PATH), load<usize>(artifact + METADATA_PATH + 4));
    lines.push(checksumLine(checksum, path));
  }
  // The list holds one tuple<string, list<u8>>: name at +0, contents at +8.
  const file = heap.alloc(16);
  storeString(file, 'SHA256SUMS');
  storeBytes(file + 8, String.UTF8.encode(lines.join('')));
  store<u8>(RETURN_AREA, 0);
  store<u8>(RETURN_AREA + 4, 1);
  store<usize>(RETURN_AREA + 8, file);
  store<u32>(RETURN_AREA + 12, 1);
  return RETURN_AREA;
}

/**
 * A line as GNU sha256sum writes it: a file name holding a backslash or a newline is
 * escaped, and the line then starts with a backslash.
 */
function checksumLine(checksum: string, path: string): string {
  if (!path.includes('\\') && !path.includes('\n')) return checksum + '  ' + path + '\n';
  return '\\' + checksum + '  ' + path.replaceAll('\\', '\\\\').replaceAll('\n', '\\n') + '\n';
}

/**
 * The version in a file name "<name>-<major>.<minor>[...]<suffix>.wasm", e.g. "1.2.3" in
 * "dir/my-filter-1.2.3.wasm"; null when it has none. The name ends at the first "-" that a
 * version follows, so "json-2-1.0.0.wasm" is json-2 at 1.0.0.
 */
function versionFromFileName(path: string): string | null {
  const fileName = path.substring(path.lastIndexOf('/') + 1);
  if (!fileName.endsWith('.wasm')) return null;
  const stem = fileName.substring(0, fileName.length - 5);
  for (let dash = stem.indexOf('-'); dash > 0; dash = stem.indexOf('-', dash + 1)) {
    const candidate = stem.substring(dash + 1);
    if (isVersion(candidate)) return candidate;
  }
  return null;
}

/** <digits>(.<digits>)+ then nothing, or "-" / "+" and letters, digits, ".", "-", "+". */
function isVersion(text: string): bool {
  let i = 0;
  let numbers = 0;
  while (true) {
    const start = i;
    while (i < text.length && isDigit(text.charCodeAt(i))) i++;
    if (i == start) return false;
    numbers++;
    if (i < text.length && text.charCodeAt(i) == 0x2e /* . */) i++;
    else break;
  }
  if (numbers < 2) return false;
  if (i == text.length) return true;
  const separator = text.charCodeAt(i);
  if ((separator != 0x2d /* - */ && separator != 0x2b /* + */) || i + 1 == text.length) return false;
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c) && !isLetter(c) && c != 0x2e && c != 0x2d && c != 0x2b) return false;
  }
  return true;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function isLetter(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
