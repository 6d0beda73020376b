// The `unity` format: Unity asset packages (.unitypackage), checked inside the plugin down
// to every asset's path, versioned by file name, indexed as index.json.
//
// Failures are thrown as plain strings: componentize-js turns a thrown string into the
// `err` of the WIT result, while anything else thrown (an Error) traps the component.
import type * as Handler from 'artifact-keeper:format/handler@1.0.0';
import type { Metadata } from 'artifact-keeper:format/handler@1.0.0';
import { checkPackage, parseFileName } from './unitypackage.js';

const FORMAT_KEY = 'unity';
const INDEX_PATH = 'index.json';

export const handler: typeof Handler = {
  formatKey() {
    return FORMAT_KEY;
  },

  validate(path, data) {
    parseFileName(path);
    checkPackage(data);
  },

  // Only the file name: the contents were checked by `validate`, which the server runs
  // first, and reading them again would inflate the whole package a second time.
  parseMetadata(path, data) {
    return {
      path,
      version: parseFileName(path).version,
      contentType: 'application/gzip',
      sizeBytes: BigInt(data.length),
    };
  },

  generateIndex(artifacts) {
    return [[INDEX_PATH, new TextEncoder().encode(JSON.stringify(indexDocument(artifacts), null, 2))]];
  },
};

interface IndexEntry {
  name: string;
  versions: Array<{ version: string | null; path: string; size: number; sha256: string | null }>;
}

/**
 * One entry per package name, names in alphabetical order, versions oldest first. The
 * asset paths are not in it: generate-index is given only the artifacts' metadata, which
 * has no field for them (see README.md).
 */
function indexDocument(artifacts: Metadata[]): { packages: IndexEntry[] } {
  const packages = new Map<string, IndexEntry>();
  for (const artifact of artifacts) {
    const name = packageName(artifact.path);
    let entry = packages.get(name);
    if (!entry) packages.set(name, (entry = { name, versions: [] }));
    entry.versions.push({
      version: artifact.version ?? null,
      path: artifact.path,
      // u64 arrives as a BigInt, which JSON.stringify refuses.
      size: Number(artifact.sizeBytes),
      sha256: artifact.checksumSha256 ?? null,
    });
  }
  const sorted = [...packages.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of sorted) entry.versions.sort((a, b) => compareVersions(a.version ?? '', b.version ?? ''));
  return { packages: sorted };
}

/** The name part of the file name; an artifact stored before this plugin checked names keeps its file name. */
function packageName(path: string): string {
  try {
    return parseFileName(path).name;
  } catch {
    return path.slice(path.lastIndexOf('/') + 1);
  }
}

/**
 * Release numbers compare as numbers; a pre-release ("1.0.0-beta") comes before its
 * release; build metadata ("+abc") does not count.
 */
function compareVersions(a: string, b: string): number {
  const [aNumbers, aPre] = versionParts(a);
  const [bNumbers, bPre] = versionParts(b);
  for (let i = 0; i < Math.max(aNumbers.length, bNumbers.length); i++) {
    const difference = (aNumbers[i] ?? 0) - (bNumbers[i] ?? 0);
    if (difference !== 0) return difference;
  }
  if (aPre === bPre) return 0;
  if (aPre === undefined) return 1;
  if (bPre === undefined) return -1;
  return aPre.localeCompare(bPre);
}

function versionParts(version: string): [number[], string | undefined] {
  const withoutBuild = version.replace(/\+.*$/, '');
  const dash = withoutBuild.indexOf('-');
  const release = dash === -1 ? withoutBuild : withoutBuild.slice(0, dash);
  return [release.split('.').map(Number), dash === -1 ? undefined : withoutBuild.slice(dash + 1)];
}
