/**
 * A fetched folder → a validated plugin package. Reads plugin.toml, the component and its
 * signature once each, validates them together (every problem in one 422), and copies exactly
 * the bytes it validated into a temporary folder of its own: what the caller installs cannot
 * differ from what was checked, whatever happens to the source folder afterwards.
 */
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open, realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ValidationProblem, validationFailed } from '../errors.js';
import { locateWasm } from './locate.js';
import { checkManifest, type PluginManifest } from './manifest.js';
import { isInside, makeTempDir, removeDir } from './paths.js';
import { checkSignature, SIGNATURE_FILE, type SignaturePolicy } from './signature.js';
import { sha256Hex } from '../../sha256.js';

export const MANIFEST_FILE = 'plugin.toml';

const MiB = 1024 * 1024;
/** Far above any real manifest or signature; bounds what a hostile package makes us read. */
const MAX_MANIFEST_BYTES = MiB;
const MAX_SIGNATURE_BYTES = 4096;
/** The componentize-js output of a JavaScript handler is ~12 MB; this leaves room for far bigger ones. */
const MAX_WASM_BYTES = 256 * MiB;

export interface PackageSource {
  type: 'wasm_git' | 'wasm_zip' | 'wasm_local';
  /** Git URL or local folder as the caller gave it; null for uploads. */
  url: string | null;
  /** Git ref as asked for (null: the default branch). */
  ref: string | null;
  /** The commit actually installed (git only). */
  resolvedCommit: string | null;
  /** Folder of the repository holding plugin.toml (git monorepos), needed again on reload. */
  path: string | null;
}

/** What a source fetcher hands over: a folder with the package, and how to dispose of it. */
export interface FetchedTree {
  /** The folder meant to hold plugin.toml. */
  root: string;
  source: PackageSource;
  /** Removes whatever the fetch created (a no-op for a local folder). */
  cleanup(): Promise<void>;
}

export interface PluginPackage {
  /** Temporary folder holding the package's files (plugin.toml at its root, the wasm, plugin.wasm.sig...). */
  dir: string;
  manifest: PluginManifest;
  /** Unknown manifest keys, signatures that could not be checked... */
  warnings: string[];
  wasm: Uint8Array;
  /** Relative path where the .wasm was found (and where it is in `dir`). */
  wasmPath: string;
  wasmSha256: string;
  signature: 'verified' | 'absent';
  source: PackageSource;
  /** Removes the temporary folder; idempotent. Callers always call it (try/finally). */
  cleanup(): Promise<void>;
}

export interface ReadOptions extends SignaturePolicy {
  /** Where the package's own temporary folder is made. */
  workDir: string;
}

/** Validates the package in `tree.root`; throws 422 `plugin_validation_failed` listing every problem. */
export async function readPackage(tree: FetchedTree, options: ReadOptions): Promise<PluginPackage> {
  // A root that does not exist reads as an empty package: its problems are the missing files.
  const root = await realpath(tree.root).catch(() => tree.root);
  const problems: ValidationProblem[] = [];
  const warnings: string[] = [];

  const manifest = await readManifest(root);
  problems.push(...manifest.problems);
  warnings.push(...manifest.warnings);

  const wasm = await readWasm(root, manifest.declaredWasm);
  problems.push(...wasm.problems);

  // Without the component there is nothing to check a signature against.
  const signature = wasm.file === null ? null : await readSignature(root, wasm.file.bytes, options);
  problems.push(...(signature?.problems ?? []));
  warnings.push(...(signature?.warnings ?? []));

  if (problems.length > 0 || manifest.parsed === null || wasm.file === null || signature === null) {
    const list = problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ');
    throw validationFailed('plugin_validation_failed', `the plugin package is not valid: ${list}`, problems);
  }

  // Keyed by path: a manifest naming plugin.toml itself as the component is odd, not a crash.
  const snapshot = new Map<string, Uint8Array>([
    [MANIFEST_FILE, manifest.parsed.bytes],
    [wasm.file.path, wasm.file.bytes],
  ]);
  if (signature.bytes !== null) snapshot.set(SIGNATURE_FILE, signature.bytes);
  const dir = await makeTempDir(options.workDir, 'package');
  try {
    await writeSnapshot(dir, snapshot);
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
  return {
    dir,
    manifest: manifest.parsed.manifest,
    warnings,
    wasm: wasm.file.bytes,
    wasmPath: wasm.file.path,
    wasmSha256: sha256Hex(wasm.file.bytes),
    signature: signature.status,
    source: tree.source,
    cleanup: () => removeDir(dir),
  };
}

interface Findings {
  problems: ValidationProblem[];
  warnings: string[];
}

async function readManifest(
  root: string,
): Promise<Findings & { parsed: { manifest: PluginManifest; bytes: Uint8Array } | null; declaredWasm: string | null }> {
  const failed = (message: string) => ({
    problems: [{ field: MANIFEST_FILE, message }],
    warnings: [],
    parsed: null,
    declaredWasm: null,
  });
  const file = await readPackageFile(root, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  if (file.kind === 'absent') return failed(`the package has no ${MANIFEST_FILE} at its root`);
  if (file.kind === 'unusable') return failed(file.reason);
  const text = decodeUtf8(file.bytes);
  if (text === null) return failed(`${MANIFEST_FILE} is not UTF-8 text`);
  const check = checkManifest(text);
  return {
    problems: check.problems,
    warnings: check.warnings,
    parsed: check.manifest === null ? null : { manifest: check.manifest, bytes: file.bytes },
    declaredWasm: check.declaredWasm,
  };
}

async function readWasm(
  root: string,
  declared: string | null,
): Promise<{ problems: ValidationProblem[]; file: { path: string; bytes: Uint8Array } | null }> {
  const search = await locateWasm(root, declared);
  if (!search.found) return { problems: [search.problem], file: null };
  const file = await readPackageFile(root, search.path, MAX_WASM_BYTES);
  if (file.kind === 'file') return { problems: [], file: { path: search.path, bytes: file.bytes } };
  const message = file.kind === 'unusable' ? file.reason : `${search.path} disappeared while the package was read`;
  return { problems: [{ field: 'wasm', message }], file: null };
}

async function readSignature(
  root: string,
  wasm: Uint8Array,
  policy: SignaturePolicy,
): Promise<Findings & { status: 'verified' | 'absent'; bytes: Uint8Array | null }> {
  const file = await readPackageFile(root, SIGNATURE_FILE, MAX_SIGNATURE_BYTES);
  if (file.kind === 'unusable') {
    return { problems: [{ field: SIGNATURE_FILE, message: file.reason }], warnings: [], status: 'absent', bytes: null };
  }
  const bytes = file.kind === 'file' ? file.bytes : null;
  const check = checkSignature(wasm, bytes, policy);
  return { problems: check.problems, warnings: check.warnings, status: check.signature, bytes };
}

type PackageFile =
  | { kind: 'file'; bytes: Uint8Array }
  | { kind: 'absent' }
  /** There, but not something to read: a folder, too big, or a link leading out of the package. */
  | { kind: 'unusable'; reason: string };

/**
 * Reads `relative` (inside the real path `root`) once. Symbolic links are followed only while
 * they stay inside the package: a local folder must not smuggle in /etc/passwd as plugin.toml.
 */
async function readPackageFile(root: string, relative: string, maxBytes: number): Promise<PackageFile> {
  let handle: FileHandle;
  try {
    const real = await realpath(path.join(root, relative));
    if (!isInside(root, real)) return { kind: 'unusable', reason: `${relative} is a symbolic link leading outside the package` };
    // Non-blocking: opening a FIFO someone left in a local folder must not hang the install.
    handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
    if (code === 'EACCES') return { kind: 'unusable', reason: `the server may not read ${relative}` };
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { kind: 'unusable', reason: `${relative} is not a regular file` };
    if (info.size > maxBytes) return { kind: 'unusable', reason: `${relative} is ${info.size} bytes; at most ${maxBytes} are accepted` };
    // Exactly the size checked: a file still growing cannot push past the bound.
    const bytes = new Uint8Array(info.size);
    const { bytesRead } = await handle.read(bytes, 0, info.size, 0);
    return { kind: 'file', bytes: bytes.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}

/** Writes each file with exclusive creation: the folder is fresh, so nothing may be there already. */
async function writeSnapshot(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  for (const [relative, bytes] of files) {
    const file = path.join(dir, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes, { flag: 'wx' });
  }
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
