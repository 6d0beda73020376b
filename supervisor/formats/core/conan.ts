/**
 * The `conan` core format: the files of a Conan 2 server, laid out as conan_server stores them,
 * the reference spelled by the path:
 *
 * - recipe:  `<name>/<version>/<user>/<channel>/<rrev>/export/<file>`, the file one of
 *   conanfile.py, conanmanifest.txt, conan_export.tgz, conan_sources.tgz;
 * - binary:  `<name>/<version>/<user>/<channel>/<rrev>/package/<package_id>/<prev>/<file>`, the
 *   file one of conaninfo.txt, conanmanifest.txt, conan_package.tgz.
 *
 * `_` stands for no user or no channel; a channel needs a user (`pkg/1.0@user` exists,
 * `pkg/1.0@/channel` does not). Name, user and channel follow Conan 2's `validate_ref`: 2 to
 * 101 characters of `[a-z0-9_+.-]`, the first not `+`, `.` or `-`. A version is any segment:
 * Conan checks version syntax only when exporting, never when reading from a remote, and
 * nothing here orders versions. Revisions are letters and digits (an md5 for
 * `revision_mode = "hash"`, a commit id for `"scm"`); a package_id is a sha1 (40 hex digits).
 *
 * Content, where the check is cheap:
 * - conanfile.py: non-empty UTF-8 text;
 * - conanmanifest.txt: a first line of seconds since the epoch, then `<path>: <md5>` lines,
 *   each path once;
 * - conaninfo.txt: `[section]` headers (`[a-z_]{2,50}`, as Conan's ConfigParser reads them),
 *   every other line inside one or a `#` comment; empty is valid (Conan writes it empty for a
 *   package id with no settings, options or requirements);
 * - the .tgz files: complete gzip tar archives whose members stay inside the folder they are
 *   extracted to.
 *
 * Index: Conan clients read none (they ask the server API), but one file is generated for
 * browsing and for tools that build package lists: `index.json`, every reference with its
 * recipe revisions, their binaries and the binaries' package revisions, every level sorted,
 * shaped as `conan list "*#*:*#*" --format=json` prints them under a remote's name
 * (`{"<ref>": {"revisions": {"<rrev>": {"packages": {"<package_id>": {"revisions":
 * {"<prev>": {}}}}}}}}`). It has no timestamps: a handler is not told upload times, so it
 * cannot say which revision is the latest.
 */
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { decodeUtf8, readTarGz, type ArchiveLimits } from './archive.js';

const REFERENCE_PART = /^[a-z0-9_][a-z0-9_+.-]{1,100}$/;
const REVISION = /^[0-9A-Za-z]{1,64}$/;
const PACKAGE_ID = /^[0-9a-f]{40}$/;
const PATH_SHAPE = '<name>/<version>/<user>/<channel>/<rrev>/export/<file> or <name>/<version>/<user>/<channel>/<rrev>/package/<package_id>/<prev>/<file>';
const RECIPE_FILES = ['conanfile.py', 'conanmanifest.txt', 'conan_export.tgz', 'conan_sources.tgz'];
const PACKAGE_FILES = ['conaninfo.txt', 'conanmanifest.txt', 'conan_package.tgz'];
const MANIFEST_LINE = /^(.+): ([0-9a-f]{32})$/;
const INFO_SECTION = /^\[([a-z_]{2,50})\]$/;

export interface ConanArtifactPath {
  name: string;
  version: string;
  /** `null` where the path says `_`. */
  user: string | null;
  channel: string | null;
  recipeRevision: string;
  /** Only for the files of a binary package. */
  packageId: string | null;
  packageRevision: string | null;
  file: string;
}

export class ConanFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'conan';

  constructor(private readonly limits: ArchiveLimits = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.check(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const parsed = await this.check(artifactPath, data);
    return { path: artifactPath, version: parsed.version, contentType: contentType(parsed.file), sizeBytes: data.byteLength, checksumSha256: null };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    // reference → recipe revision → package_id → package revisions
    const references = new Map<string, Map<string, Map<string, Set<string>>>>();
    for (const artifact of artifacts) {
      let parsed: ConanArtifactPath;
      try {
        parsed = parseConanPath(artifact.path);
      } catch {
        continue;
      }
      const reference = referenceString(parsed);
      if (!references.has(reference)) references.set(reference, new Map());
      const revisions = references.get(reference)!;
      if (!revisions.has(parsed.recipeRevision)) revisions.set(parsed.recipeRevision, new Map());
      if (parsed.packageId === null) continue;
      const packages = revisions.get(parsed.recipeRevision)!;
      if (!packages.has(parsed.packageId)) packages.set(parsed.packageId, new Set());
      packages.get(parsed.packageId)!.add(parsed.packageRevision!);
    }
    const list: Record<string, unknown> = {};
    for (const reference of [...references.keys()].sort()) {
      const revisions: Record<string, unknown> = {};
      for (const [recipeRevision, packages] of [...references.get(reference)!].sort(byKey)) {
        const binaries: Record<string, unknown> = {};
        for (const [packageId, packageRevisions] of [...packages].sort(byKey)) {
          binaries[packageId] = { revisions: Object.fromEntries([...packageRevisions].sort().map((revision) => [revision, {}])) };
        }
        revisions[recipeRevision] = { packages: binaries };
      }
      list[reference] = { revisions };
    }
    return [{ path: 'index.json', content: new TextEncoder().encode(`${JSON.stringify(list, null, 2)}\n`) }];
  }

  private async check(artifactPath: string, data: Uint8Array): Promise<ConanArtifactPath> {
    const parsed = parseConanPath(artifactPath);
    if (parsed.file === 'conanfile.py') checkConanfile(data);
    else if (parsed.file === 'conanmanifest.txt') checkManifest(data);
    else if (parsed.file === 'conaninfo.txt') checkInfo(data);
    else await checkTgz(parsed.file, data, this.limits);
    return parsed;
  }
}

/** Splits and validates a Conan server path into its reference, revisions and file. */
export function parseConanPath(artifactPath: string): ConanArtifactPath {
  const segments = artifactPath.replace(/^\/+/, '').split('/');
  const bad = segments.find((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad !== undefined) throw new ArtifactInvalid(`the Conan path ${artifactPath} has ${bad === '' ? 'an empty' : `a "${bad}"`} segment`);
  const isRecipe = segments.length === 7 && segments[5] === 'export';
  const isPackage = segments.length === 9 && segments[5] === 'package';
  if (!isRecipe && !isPackage) throw new ArtifactInvalid(`a Conan file path must be ${PATH_SHAPE}: ${artifactPath}`);
  const [name, version, user, channel, recipeRevision] = segments as [string, string, string, string, string];
  const file = segments.at(-1)!;
  if (isRecipe && !RECIPE_FILES.includes(file)) throw new ArtifactInvalid(`${file} is not a recipe file: the export folder holds ${RECIPE_FILES.join(', ')}`);
  if (isPackage && !PACKAGE_FILES.includes(file)) throw new ArtifactInvalid(`${file} is not a package file: a package revision folder holds ${PACKAGE_FILES.join(', ')}`);
  checkReferencePart(name, 'name');
  if (user !== '_') checkReferencePart(user, 'user');
  if (channel !== '_') {
    if (user === '_') throw new ArtifactInvalid(`the Conan channel ${channel} needs a user: the path has _ for the user`);
    checkReferencePart(channel, 'channel');
  }
  checkRevision(recipeRevision, 'recipe revision');
  let packageId: string | null = null;
  let packageRevision: string | null = null;
  if (isPackage) {
    packageId = segments[6]!;
    packageRevision = segments[7]!;
    if (!PACKAGE_ID.test(packageId)) throw new ArtifactInvalid(`invalid Conan package_id ${packageId}: a package_id is 40 lowercase hex digits (a sha1)`);
    checkRevision(packageRevision, 'package revision');
  }
  return { name, version, user: user === '_' ? null : user, channel: channel === '_' ? null : channel, recipeRevision, packageId, packageRevision, file };
}

/** `name/version`, `name/version@user` or `name/version@user/channel`, as Conan writes a reference. */
export function referenceString(parsed: Pick<ConanArtifactPath, 'name' | 'version' | 'user' | 'channel'>): string {
  const base = `${parsed.name}/${parsed.version}`;
  if (parsed.user === null) return base;
  return parsed.channel === null ? `${base}@${parsed.user}` : `${base}@${parsed.user}/${parsed.channel}`;
}

function checkReferencePart(value: string, what: 'name' | 'user' | 'channel'): void {
  if (!REFERENCE_PART.test(value)) {
    throw new ArtifactInvalid(`invalid Conan package ${what} ${value}: 2 to 101 characters of lowercase letters, digits, _ + . -, not starting with + . or -`);
  }
}

function checkRevision(value: string, what: string): void {
  if (!REVISION.test(value)) throw new ArtifactInvalid(`invalid Conan ${what} ${value}: a revision is 1 to 64 letters and digits (an md5 hash or a commit id)`);
}

function contentType(file: string): string {
  if (file.endsWith('.py')) return 'text/x-python';
  if (file.endsWith('.txt')) return 'text/plain';
  return 'application/gzip';
}

function checkConanfile(data: Uint8Array): void {
  if (decodeUtf8(data, 'conanfile.py', 'UTF-8 text').trim() === '') throw new ArtifactInvalid('conanfile.py is empty');
}

/** Conan's FileTreeManifest text: the time it was made, then one `<path>: <md5>` line per file. */
function checkManifest(data: Uint8Array): void {
  const lines = decodeUtf8(data, 'conanmanifest.txt', 'UTF-8 text').split(/\r?\n/);
  if (!/^\d+$/.test(lines[0]!)) throw new ArtifactInvalid(`conanmanifest.txt must start with a timestamp line (seconds since the epoch), found: ${lines[0]!.slice(0, 80)}`);
  const seen = new Set<string>();
  for (const [index, line] of lines.entries()) {
    if (index === 0 || line === '') continue;
    const match = MANIFEST_LINE.exec(line);
    if (!match) throw new ArtifactInvalid(`conanmanifest.txt line ${index + 1} is not "<path>: <md5>": ${line.slice(0, 80)}`);
    if (seen.has(match[1]!)) throw new ArtifactInvalid(`conanmanifest.txt lists ${match[1]} more than once`);
    seen.add(match[1]!);
  }
}

function checkInfo(data: Uint8Array): void {
  let inSection = false;
  for (const [index, rawLine] of decodeUtf8(data, 'conaninfo.txt', 'UTF-8 text').split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      if (!INFO_SECTION.test(line)) throw new ArtifactInvalid(`conaninfo.txt line ${index + 1} is not a [section] header: ${line.slice(0, 80)}`);
      inSection = true;
    } else if (!inSection) {
      throw new ArtifactInvalid(`conaninfo.txt line ${index + 1} is outside any [section]: ${line.slice(0, 80)}`);
    }
  }
}

async function checkTgz(file: string, data: Uint8Array, limits: ArchiveLimits): Promise<void> {
  // Nothing inside is read: only the structure (and thereby the whole gzip stream) is checked.
  const contents = await readTarGz(data, file, () => false, limits);
  const unsafe = contents.paths.find((member) => member.startsWith('/') || member.split('/').includes('..'));
  if (unsafe !== undefined) throw new ArtifactInvalid(`${file} member ${unsafe} has an unsafe path`);
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
