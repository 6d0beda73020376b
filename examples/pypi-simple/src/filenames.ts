// Python distribution file names, which carry the project and version a pip client reads:
//   wheel  {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl  (PEP 427)
//   sdist  {name}-{version}.tar.gz                                                            (PEP 625)
// and project names as the simple API compares them (PEP 503 normalization).

export interface Distribution {
  /** The project's normalized name (PEP 503), e.g. "zope-interface". */
  project: string;
  version: string;
  kind: 'wheel' | 'sdist';
  fileName: string;
}

// A version as PEP 440 defines it (its appendix's pattern, in one line): epoch, release,
// pre-, post- and dev-release, local version label.
const PEP440_VERSION =
  /^v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;

/** A project name (PEP 508). */
const PROJECT_NAME = /^[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?$/i;
/** A wheel's distribution part: a project name with `-` escaped to `_`, so without `-`. */
const WHEEL_DISTRIBUTION = /^[A-Z0-9](?:[A-Z0-9._]*[A-Z0-9])?$/i;
const WHEEL_TAG = /^[A-Z0-9_.]+$/i;

const WHEEL_SHAPE = '{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl';

/** PEP 503: runs of `-`, `_` and `.` become one `-`, all lower case. */
export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** Reads a distribution's file name; throws what is wrong with it as a string. */
export function parseFileName(path: string): Distribution {
  const fileName = path.slice(path.lastIndexOf('/') + 1);
  if (fileName.endsWith('.whl')) return parseWheel(fileName);
  if (fileName.endsWith('.tar.gz')) return parseSdist(fileName);
  throw `"${fileName}" is neither a wheel (.whl) nor an sdist (.tar.gz)`;
}

function parseWheel(fileName: string): Distribution {
  const parts = fileName.slice(0, -'.whl'.length).split('-');
  if (parts.length !== 5 && parts.length !== 6) {
    throw `"${fileName}" is not a wheel file name (PEP 427): expected ${WHEEL_SHAPE}`;
  }
  const [distribution, version] = parts;
  const buildTag = parts.length === 6 ? parts[2] : undefined;
  const tags = parts.slice(-3);
  if (!WHEEL_DISTRIBUTION.test(distribution)) throw `"${fileName}": "${distribution}" is not a distribution name`;
  if (!PEP440_VERSION.test(version)) throw `"${fileName}": "${version}" is not a PEP 440 version`;
  if (buildTag !== undefined && !/^[0-9]/.test(buildTag)) throw `"${fileName}": the build tag "${buildTag}" must start with a digit`;
  const badTag = tags.find((tag) => !WHEEL_TAG.test(tag));
  if (badTag !== undefined) throw `"${fileName}": "${badTag}" is not a compatibility tag`;
  return { project: normalizeProjectName(distribution), version, kind: 'wheel', fileName };
}

/**
 * The name may contain `-` ("python-dateutil-2.8.2.tar.gz") and a version may too (a post
 * release "1.0-1"): the name ends at the first `-` after which a whole version follows.
 */
function parseSdist(fileName: string): Distribution {
  const stem = fileName.slice(0, -'.tar.gz'.length);
  for (let dash = stem.indexOf('-'); dash !== -1; dash = stem.indexOf('-', dash + 1)) {
    const name = stem.slice(0, dash);
    const version = stem.slice(dash + 1);
    if (PROJECT_NAME.test(name) && PEP440_VERSION.test(version)) {
      return { project: normalizeProjectName(name), version, kind: 'sdist', fileName };
    }
  }
  throw `"${fileName}" is not an sdist file name: expected {name}-{version}.tar.gz with a PEP 440 version`;
}

/**
 * The first bytes must be those of the archive the file name promises: a wheel is a ZIP
 * archive, an sdist a gzip-compressed tar.
 */
export function checkContents(distribution: Distribution, data: Uint8Array): void {
  if (distribution.kind === 'wheel' && !startsWith(data, [0x50, 0x4b, 0x03, 0x04])) {
    throw `"${distribution.fileName}" is not a ZIP archive, which a wheel is`;
  }
  if (distribution.kind === 'sdist' && !startsWith(data, [0x1f, 0x8b])) {
    throw `"${distribution.fileName}" is not gzip-compressed, which a .tar.gz sdist is`;
  }
}

function startsWith(data: Uint8Array, signature: number[]): boolean {
  return signature.every((byte, i) => data[i] === byte);
}
