/**
 * The `npm` core format: package tarballs (`npm pack` output, a gzip tar whose manifest is
 * `package/package.json`), stored as `<name>/-/<unscoped name>-<version>.tgz` (npm's registry
 * layout, `@scope/name/-/name-1.0.0.tgz` for a scoped package) or as a bare
 * `<unscoped name>-<version>.tgz`, under an `@scope/` folder for a scoped package.
 *
 * The index is one packument per package, at `<name>`: the versions with their tarball path
 * (relative to the packument's folder, so that it resolves where the packument is served)
 * and, when the checksum is known, an `integrity` (SRI sha256); `dist-tags.latest` is the
 * highest release version by semver (the highest prerelease when there is no release).
 */
import path from 'node:path';
import semver from 'semver';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { baseName, decodeUtf8, readTarGz, type ArchiveLimits } from './archive.js';

const MANIFEST = 'package/package.json';
const LABEL = 'the npm package tarball';
const NAME_MAX_LENGTH = 214;

export interface NpmPackageJson {
  name: string;
  version: string;
  manifest: Record<string, unknown>;
}

export class NpmFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'npm';

  constructor(private readonly limits: ArchiveLimits = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const pkg = await this.read(artifactPath, data);
    return {
      path: artifactPath,
      version: pkg.version,
      contentType: 'application/octet-stream',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  /** Reads and checks the tarball's package.json against the npm rules and the path. */
  async read(artifactPath: string, data: Uint8Array): Promise<NpmPackageJson> {
    if (!baseName(artifactPath).endsWith('.tgz')) throw new ArtifactInvalid(`an npm package must be a .tgz file, not ${baseName(artifactPath) || 'an empty name'}`);
    const contents = await readTarGz(data, LABEL, (member) => member === MANIFEST, this.limits);
    const bytes = contents.members.get(MANIFEST);
    if (!bytes) throw new ArtifactInvalid(`${LABEL} has no ${MANIFEST}`);
    const pkg = parsePackageJson(decodeUtf8(bytes, MANIFEST));
    const fromPath = npmNameFromPath(artifactPath, pkg.version);
    if (fromPath !== pkg.name) {
      throw new ArtifactInvalid(
        `the path ${artifactPath} does not match ${pkg.name}@${pkg.version} of ${MANIFEST}: expected ${npmTarballPath(pkg.name, pkg.version)}`,
      );
    }
    return pkg;
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const packages = new Map<string, ArtifactMetadata[]>();
    for (const artifact of artifacts) {
      if (!artifact.version || semver.valid(artifact.version) !== artifact.version) continue;
      const name = npmNameFromPath(artifact.path, artifact.version);
      if (!name || npmNameProblem(name)) continue;
      packages.set(name, [...(packages.get(name) ?? []), artifact]);
    }
    const files: IndexFile[] = [];
    for (const [name, list] of [...packages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const sorted = [...list].sort((a, b) => semver.compare(a.version!, b.version!));
      const versions: Record<string, unknown> = {};
      for (const artifact of sorted) {
        // Relative to the packument's own folder (`@scope/` for a scoped one), so that the
        // link resolves from where the packument is served.
        const dist: Record<string, string> = { tarball: path.posix.relative(path.posix.dirname(name), artifact.path) };
        if (artifact.checksumSha256 && /^[0-9a-f]{64}$/i.test(artifact.checksumSha256)) {
          dist.integrity = `sha256-${Buffer.from(artifact.checksumSha256, 'hex').toString('base64')}`;
        }
        versions[artifact.version!] = { name, version: artifact.version, dist };
      }
      const all = sorted.map((artifact) => artifact.version!);
      const releases = all.filter((version) => semver.prerelease(version) === null);
      const latest = (releases.length > 0 ? releases : all).at(-1)!;
      const packument = { name, 'dist-tags': { latest }, versions };
      files.push({ path: name, content: new TextEncoder().encode(JSON.stringify(packument, null, 2) + '\n') });
    }
    return files;
  }
}

/** Parses and checks package.json text: a JSON object with a valid name and semver version. */
export function parsePackageJson(text: string): NpmPackageJson {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new ArtifactInvalid(`${MANIFEST} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) throw new ArtifactInvalid(`${MANIFEST} is not a JSON object`);
  const record = manifest as Record<string, unknown>;
  if (record.name === undefined) throw new ArtifactInvalid(`${MANIFEST} has no "name"`);
  if (typeof record.name !== 'string') throw new ArtifactInvalid(`"name" in ${MANIFEST} must be a string`);
  if (record.version === undefined) throw new ArtifactInvalid(`${MANIFEST} has no "version"`);
  if (typeof record.version !== 'string') throw new ArtifactInvalid(`"version" in ${MANIFEST} must be a string`);
  const problem = npmNameProblem(record.name);
  if (problem) throw new ArtifactInvalid(`"${record.name}" in ${MANIFEST} is not a valid npm package name: ${problem}`);
  if (semver.valid(record.version) !== record.version) {
    throw new ArtifactInvalid(`"${record.version}" in ${MANIFEST} is not a valid semver version`);
  }
  return { name: record.name, version: record.version, manifest: record };
}

/** Why `name` is not a valid name for a new npm package (validate-npm-package-name's rules), or null. */
export function npmNameProblem(name: string): string | null {
  if (name.length === 0) return 'name length must be greater than zero';
  if (name.length > NAME_MAX_LENGTH) return `name can no longer contain more than ${NAME_MAX_LENGTH} characters`;
  if (name.trim() !== name) return 'name cannot contain leading or trailing spaces';
  if (name.startsWith('.')) return 'name cannot start with a period';
  if (name.startsWith('_')) return 'name cannot start with an underscore';
  if (name.toLowerCase() === 'node_modules' || name.toLowerCase() === 'favicon.ico') return `${name} is not a valid package name`;
  if (name.toLowerCase() !== name) return 'name can no longer contain capital letters';
  if (/[~'!()*]/.test(name.split('/').slice(-1)[0]!)) return 'name can no longer contain special characters ("~\'!()*")';
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (name.startsWith('@') && !scoped) return 'a scoped name must be @scope/name';
  const parts = scoped ? [scoped[1]!, scoped[2]!] : [name];
  for (const part of parts) {
    if (part.startsWith('.') || part.startsWith('_')) return 'name cannot start with a period or an underscore';
    if (encodeURIComponent(part) !== part) return 'name can only contain URL-friendly characters';
  }
  return null;
}

/** `@scope/pkg` → `pkg`. */
export function unscopedName(name: string): string {
  return name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
}

/** The registry layout path of a package version's tarball. */
export function npmTarballPath(name: string, version: string): string {
  return `${name}/-/${unscopedName(name)}-${version}.tgz`;
}

/**
 * The package name a tarball path stands for, given the version: `<name>/-/<file>` or a bare
 * file name (in an `@scope/` folder for a scoped package); null when the file is not named
 * `<unscoped name>-<version>.tgz` or the folder disagrees with it.
 */
export function npmNameFromPath(artifactPath: string, version: string): string | null {
  const segments = artifactPath.split('/').filter(Boolean);
  const file = segments.at(-1) ?? '';
  const suffix = `-${version}.tgz`;
  if (!file.endsWith(suffix) || file.length === suffix.length) return null;
  const unscoped = file.slice(0, -suffix.length);
  if (segments.at(-2) === '-') {
    const folder = segments.at(-3);
    if (folder !== unscoped) return null;
    const scope = segments.at(-4);
    return scope?.startsWith('@') ? `${scope}/${unscoped}` : unscoped;
  }
  const scope = segments.at(-2);
  return scope?.startsWith('@') ? `${scope}/${unscoped}` : unscoped;
}
