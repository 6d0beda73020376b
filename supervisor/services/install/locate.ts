/**
 * Finding the component in a package, in the contract's order: the manifest's
 * `[plugin].wasm`, the usual build outputs, the release folders of Rust's wasm32 targets,
 * then the only `*.wasm` at the package root.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ValidationProblem } from '../errors.js';
import { unsafeRelativePath } from '../../relative-path.js';

export type WasmSearch =
  /** `path` is relative to the package root, with `/` separators. */
  | { found: true; path: string }
  | { found: false; problem: ValidationProblem };

const FIXED_PLACES = ['plugin.wasm', 'out/plugin.wasm', 'dist/plugin.wasm'];
const RUST_RELEASE_FOLDERS = ['target/wasm32-wasip2/release', 'target/wasm32-wasip1/release', 'target/wasm32-wasi/release'];

/** Every place searched when the manifest names none, as the "not found" problem lists them. */
export const SEARCHED_PLACES: readonly string[] = [
  ...FIXED_PLACES,
  ...RUST_RELEASE_FOLDERS.map((folder) => `${folder}/*.wasm`),
  '*.wasm at the package root',
];

/**
 * Where the component is. A path the manifest names is binding: when it is unsafe or missing
 * the search stops there rather than silently installing some other `.wasm`.
 */
export async function locateWasm(root: string, declared: string | null): Promise<WasmSearch> {
  if (declared !== null) return checkDeclared(root, declared);

  for (const place of FIXED_PLACES) {
    if (await isFile(path.join(root, place))) return { found: true, path: place };
  }
  for (const folder of [...RUST_RELEASE_FOLDERS, '']) {
    const candidates = await wasmFilesIn(path.join(root, folder));
    const where = folder === '' ? 'the package root' : folder;
    if (candidates.length === 1) return { found: true, path: path.posix.join(folder, candidates[0]!) };
    if (candidates.length > 1) {
      const several = `${where} holds several .wasm files (${candidates.join(', ')})`;
      return notFound(`${several}; name the component with [plugin].wasm in plugin.toml`);
    }
  }
  return notFound(`no .wasm component found; searched ${SEARCHED_PLACES.join(', ')} (or name it with [plugin].wasm in plugin.toml)`);
}

async function checkDeclared(root: string, declared: string): Promise<WasmSearch> {
  const unsafe = unsafeRelativePath(declared);
  if (unsafe !== null) {
    return { found: false, problem: { field: 'plugin.wasm', message: `"${declared}" is not a path inside the package: ${unsafe}` } };
  }
  const relative = path.posix.normalize(declared);
  if (!(await isFile(path.join(root, relative)))) {
    return { found: false, problem: { field: 'plugin.wasm', message: `"${declared}" is not a file in the package` } };
  }
  return { found: true, path: relative };
}

const notFound = (message: string): WasmSearch => ({ found: false, problem: { field: 'wasm', message } });

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Names of the `*.wasm` files directly in `folder`, sorted; none when it does not exist. */
async function wasmFilesIn(folder: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  const wasm = names.filter((name) => name.endsWith('.wasm')).sort();
  const files = await Promise.all(wasm.map(async (name) => ((await isFile(path.join(folder, name))) ? name : null)));
  return files.filter((name): name is string => name !== null);
}
