// What makes a .unitypackage: a gzip-compressed tar archive holding one folder per asset,
// named by the asset's GUID (32 hex digits), with
//   <guid>/pathname     the asset's path in the Unity project (first line), e.g. Assets/Tool/A.cs
//   <guid>/asset        the file itself (absent for a folder)
//   <guid>/asset.meta   Unity's import settings
//   <guid>/preview.png  optional thumbnail
// and a version in the file name, as Unity's Asset Store and most tools name them:
// MyTool-1.2.3.unitypackage.
import { gunzip } from './gzip.js';
import { TarReader } from './tar.js';

export const EXTENSION = '.unitypackage';

export interface PackageName {
  name: string;
  version: string;
}

const GUID = /^[0-9a-f]{32}$/i;

// <name><separator>[v]<major>.<minor>[.<patch>...][-prerelease][+build]; the name is the
// shortest prefix that leaves a version, so "Tool-2-1.0.0" is Tool-2, version 1.0.0.
const NAME_AND_VERSION = /^(.+?)[-_ ]v?(\d+(?:\.\d+)+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/;

/** Package name and version from the file name of `path`; throws what is wrong as a string. */
export function parseFileName(path: string): PackageName {
  const fileName = path.slice(path.lastIndexOf('/') + 1);
  if (!fileName.toLowerCase().endsWith(EXTENSION)) {
    throw `"${fileName}" is not a ${EXTENSION} file`;
  }
  const match = NAME_AND_VERSION.exec(fileName.slice(0, -EXTENSION.length));
  if (!match) {
    throw `"${fileName}" has no version in its name: name it <name>-<version>${EXTENSION}, e.g. MyTool-1.2.3${EXTENSION}`;
  }
  return { name: match[1], version: match[2] };
}

/**
 * Reads the whole package and checks its structure and every asset path; throws the first
 * thing wrong with it as a string.
 */
export function checkPackage(data: Uint8Array): void {
  const folders = new Set<string>();
  const withPathname = new Set<string>();
  const tar = new TarReader({
    keepBody: (entry) => entry.name.endsWith('/pathname'),
    onEntry(entry, body) {
      // "./" and directory entries carry nothing; some tools write them, Unity does not.
      const name = entry.name.replace(/^\.\//, '');
      if (name === '' || entry.type === '5') return;
      const [guid, member, ...rest] = name.split('/');
      if (member === undefined || rest.length > 0 || !GUID.test(guid)) {
        throw `unexpected entry "${entry.name}": a ${EXTENSION} holds only <guid>/<file> entries, <guid> being 32 hex digits`;
      }
      if (entry.type !== '0') throw `"${entry.name}" is not a regular file (tar type '${entry.type}')`;
      folders.add(guid);
      if (member === 'pathname') {
        checkAssetPath(entry.name, body!);
        withPathname.add(guid);
      }
    },
  });
  gunzip(data, (chunk) => tar.push(chunk));
  tar.end();

  for (const guid of folders) {
    if (!withPathname.has(guid)) {
      throw `asset ${guid} has no pathname entry: ${guid}/pathname must say where the asset goes in the project`;
    }
  }
  if (folders.size === 0) throw `no assets: the archive has no <guid>/ folders, so it is not a ${EXTENSION}`;
}

/**
 * The first line of a pathname entry, checked: Unity writes each asset where this says, so a
 * path leaving the project folder would be a path traversal on import.
 */
function checkAssetPath(entryName: string, body: Uint8Array): void {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw `${entryName} is not UTF-8 text`;
  }
  const path = text.split('\n', 1)[0].replace(/\r$/, '');
  if (path.trim() === '') throw `${entryName} is empty: it must name the asset's path in the project`;
  if (path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path) || path.split('/').includes('..')) {
    throw `${entryName} names "${path}", which is not a relative path inside the project`;
  }
}
