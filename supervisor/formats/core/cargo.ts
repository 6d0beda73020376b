/**
 * The `cargo` core format: `.crate` files (`cargo package` output, a gzip tar whose manifest is
 * `<name>-<version>/Cargo.toml`) named `<name>-<version>.crate`; [package] name and version
 * must agree with the file name.
 *
 * The index is the sparse registry's: one file per crate at cargo's path (`1/a`, `2/ab`,
 * `3/a/abc`, `ab/cd/abcd...`, lower case), one JSON line per version in semver order
 * ({name, vers, deps: [], cksum, features: {}, yanked: false}; `cksum` is the sha256 given in
 * the metadata, empty when unknown).
 */
import semver from 'semver';
import { parse as parseToml } from 'smol-toml';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { baseName, decodeUtf8, readTarGz, type ArchiveLimits } from './archive.js';

const CRATE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export class CargoFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'cargo';

  constructor(private readonly limits: ArchiveLimits = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const crate = await this.read(artifactPath, data);
    return { path: artifactPath, version: crate.version, contentType: 'application/octet-stream', sizeBytes: data.byteLength, checksumSha256: null };
  }

  /** Reads and checks the crate's Cargo.toml against the file name. */
  async read(artifactPath: string, data: Uint8Array): Promise<{ name: string; version: string }> {
    const file = baseName(artifactPath);
    if (!file.endsWith('.crate') || file === '.crate') throw new ArtifactInvalid(`a crate must be a .crate file, not ${file || 'an empty name'}`);
    const stem = file.slice(0, -'.crate'.length);
    const manifestPath = `${stem}/Cargo.toml`;
    const contents = await readTarGz(data, 'the crate', (member) => member === manifestPath, this.limits);
    const bytes = contents.members.get(manifestPath);
    if (!bytes) throw new ArtifactInvalid(`the crate has no ${manifestPath}`);
    const { name, version } = parseCargoToml(decodeUtf8(bytes, manifestPath), manifestPath);
    if (`${name}-${version}` !== stem) {
      throw new ArtifactInvalid(`the file name ${file} does not match ${name} ${version} of Cargo.toml: expected ${name}-${version}.crate`);
    }
    return { name, version };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const crates = new Map<string, Map<string, ArtifactMetadata>>();
    for (const artifact of artifacts) {
      const file = baseName(artifact.path);
      const version = artifact.version;
      if (!version || semver.valid(version) !== version || !file.endsWith(`-${version}.crate`)) continue;
      const name = file.slice(0, -`-${version}.crate`.length);
      if (!CRATE_NAME.test(name)) continue;
      const key = name.toLowerCase();
      const versions = crates.get(key) ?? new Map<string, ArtifactMetadata>();
      versions.set(version, { ...artifact, path: name });
      crates.set(key, versions);
    }
    const files: IndexFile[] = [];
    for (const key of [...crates.keys()].sort()) {
      const versions = [...crates.get(key)!.entries()].sort(([a], [b]) => semver.compare(a, b));
      const lines = versions.map(([vers, artifact]) =>
        JSON.stringify({ name: artifact.path, vers, deps: [], cksum: artifact.checksumSha256?.toLowerCase() ?? '', features: {}, yanked: false }),
      );
      files.push({ path: cargoIndexPath(key), content: new TextEncoder().encode(lines.join('\n') + '\n') });
    }
    return files;
  }
}

/** Parses Cargo.toml text: [package] with a valid crate name and a semver version. */
export function parseCargoToml(text: string, manifestPath = 'Cargo.toml'): { name: string; version: string } {
  let manifest: Record<string, unknown>;
  try {
    manifest = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new ArtifactInvalid(`${manifestPath} is not valid TOML: ${(error as Error).message.split('\n')[0]}`);
  }
  const pkg = manifest.package;
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) throw new ArtifactInvalid(`${manifestPath} has no [package] table`);
  const { name, version } = pkg as Record<string, unknown>;
  if (name === undefined) throw new ArtifactInvalid(`${manifestPath} has no package.name`);
  if (typeof name !== 'string') throw new ArtifactInvalid(`package.name in ${manifestPath} must be a string`);
  if (!CRATE_NAME.test(name)) {
    throw new ArtifactInvalid(`package.name "${name}" in ${manifestPath} is not a valid crate name (a letter, then up to 63 letters, digits, - or _)`);
  }
  if (version === undefined) throw new ArtifactInvalid(`${manifestPath} has no package.version`);
  if (typeof version !== 'string') throw new ArtifactInvalid(`package.version in ${manifestPath} must be a string (a packaged crate has no workspace inheritance left)`);
  if (semver.valid(version) !== version) throw new ArtifactInvalid(`package.version "${version}" in ${manifestPath} is not a valid semver version`);
  return { name, version };
}

/** Where cargo looks for a crate in a registry index: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd`. */
export function cargoIndexPath(crateName: string): string {
  const name = crateName.toLowerCase();
  if (name.length === 1) return `1/${name}`;
  if (name.length === 2) return `2/${name}`;
  if (name.length === 3) return `3/${name[0]}/${name}`;
  return `${name.slice(0, 2)}/${name.slice(2, 4)}/${name}`;
}
