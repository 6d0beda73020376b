/**
 * The `go` core format: the files of the GOPROXY protocol, `<module>/@v/<version>.info`,
 * `.mod` and `.zip`. The module path and the version in the artifact path are escaped as Go
 * escapes them (an uppercase letter X is written `!x`); the version must be a canonical
 * semantic version with a leading `v` whose major version agrees with the module path's
 * suffix (`/v2`, `gopkg.in/x.v2`) or carries `+incompatible`.
 *
 * - `.info`: JSON `{"Version": <the version>, "Time": <RFC 3339>}`;
 * - `.mod`: its first directive is `module <the module path>`;
 * - `.zip`: every entry sits under `<module path>@<version>/`; a `go.mod` at that root
 *   names the module.
 *
 * Index: `<module>/@v/list`, the module's versions one per line in semver order.
 */
import semver from 'semver';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MiB, decodeUtf8, formatBytes, openZip } from './archive.js';

const SMALL_FILE_CAP = MiB;
const GO_MOD_CAP = 16 * MiB;
const ARTIFACT = /^(.+)\/@v\/([^/]+)\.(info|mod|zip)$/;
const CANONICAL = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(\+incompatible)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const CONTENT_TYPES = { info: 'application/json', mod: 'text/plain; charset=utf-8', zip: 'application/zip' } as const;

export interface GoArtifactPath {
  /** As written in the path (escaped). */
  escapedModule: string;
  module: string;
  version: string;
  kind: 'info' | 'mod' | 'zip';
}

export class GoFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'go';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.check(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const parsed = await this.check(artifactPath, data);
    return {
      path: artifactPath,
      version: parsed.version,
      contentType: CONTENT_TYPES[parsed.kind],
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const byModule = new Map<string, Set<string>>();
    for (const artifact of artifacts) {
      let parsed: GoArtifactPath;
      try {
        parsed = parseGoPath(artifact.path);
      } catch {
        continue;
      }
      if (!byModule.has(parsed.escapedModule)) byModule.set(parsed.escapedModule, new Set());
      byModule.get(parsed.escapedModule)!.add(parsed.version);
    }
    return [...byModule.keys()].sort().map((module) => ({
      path: `${module}/@v/list`,
      content: new TextEncoder().encode([...byModule.get(module)!].sort(compareGoVersions).map((version) => `${version}\n`).join('')),
    }));
  }

  private async check(artifactPath: string, data: Uint8Array): Promise<GoArtifactPath> {
    const parsed = parseGoPath(artifactPath);
    if (parsed.kind === 'info') checkInfo(parsed, data);
    else if (parsed.kind === 'mod') checkMod(parsed, data, 'the .mod file');
    else await checkZip(parsed, data);
    return parsed;
  }
}

/** Splits and validates `<module>/@v/<version>.(info|mod|zip)`. */
export function parseGoPath(artifactPath: string): GoArtifactPath {
  const match = ARTIFACT.exec(artifactPath.replace(/^\/+/, ''));
  if (!match) throw new ArtifactInvalid(`a Go module file path must be <module>/@v/<version>.(info|mod|zip): ${artifactPath}`);
  const [, escapedModule, escapedVersion, kind] = match as unknown as [string, string, string, 'info' | 'mod' | 'zip'];
  const module = unescapeGoPath(escapedModule, 'module path');
  checkModulePath(module);
  const version = unescapeGoPath(escapedVersion, 'version');
  checkVersion(module, version);
  return { escapedModule, module, version, kind };
}

/** Go's case encoding: `!x` stands for `X`; a bare uppercase letter, or `!` before anything but a-z, is invalid. */
export function unescapeGoPath(escaped: string, what: string): string {
  let out = '';
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped[i]!;
    if (c === '!') {
      const next = escaped[i + 1];
      if (next === undefined || next < 'a' || next > 'z') throw new ArtifactInvalid(`invalid escaped ${what} ${escaped}: "!" must be followed by a lowercase letter`);
      out += next.toUpperCase();
      i++;
    } else if (c >= 'A' && c <= 'Z') {
      throw new ArtifactInvalid(`invalid escaped ${what} ${escaped}: uppercase letters must be escaped as "!" and the lowercase letter`);
    } else {
      out += c;
    }
  }
  return out;
}

export function escapeGoPath(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

function checkModulePath(module: string): void {
  const elements = module.split('/');
  for (const element of elements) {
    if (element === '') throw new ArtifactInvalid(`malformed module path ${module}: empty path element`);
    if (!/^[A-Za-z0-9._~-]+$/.test(element)) throw new ArtifactInvalid(`malformed module path ${module}: invalid character in path element ${element}`);
    if (element.startsWith('.') || element.endsWith('.')) throw new ArtifactInvalid(`malformed module path ${module}: path element ${element} starts or ends with a dot`);
  }
  const first = elements[0]!;
  if (!first.includes('.')) throw new ArtifactInvalid(`malformed module path ${module}: missing dot in first path element`);
  if (first.startsWith('-')) throw new ArtifactInvalid(`malformed module path ${module}: leading dash in first path element`);
  if (/[A-Z]/.test(first)) throw new ArtifactInvalid(`malformed module path ${module}: uppercase letters in the host name`);
}

function checkVersion(module: string, version: string): void {
  const match = CANONICAL.exec(version);
  if (!match || (match[4] !== undefined && semver.valid(`0.0.0-${match[4]}`) === null)) {
    throw new ArtifactInvalid(`invalid version ${version}: a Go module version is a canonical semantic version with a leading v (v1.2.3, v1.2.3-pre, v2.0.0+incompatible)`);
  }
  const major = Number(match[1]);
  const incompatible = match[5] !== undefined;
  const gopkg = /^gopkg\.in\/.*\.v(0|[1-9]\d*)(-unstable)?$/.exec(module);
  if (module.startsWith('gopkg.in/')) {
    if (!gopkg) throw new ArtifactInvalid(`malformed module path ${module}: a gopkg.in path ends in .vN`);
    const wanted = Number(gopkg[1]);
    if (incompatible || (major !== wanted && !(wanted === 1 && major === 0))) {
      throw new ArtifactInvalid(`version ${version} does not match the major version suffix of ${module} (want v${wanted})`);
    }
    return;
  }
  const suffix = /\/v(\d+)$/.exec(module);
  if (suffix) {
    const wanted = Number(suffix[1]);
    if (wanted < 2 || suffix[1] !== String(wanted)) throw new ArtifactInvalid(`malformed module path ${module}: invalid major version suffix /v${suffix[1]}`);
    if (incompatible) throw new ArtifactInvalid(`invalid version ${version}: +incompatible is not allowed on module path ${module}, which has a major version suffix`);
    if (major !== wanted) throw new ArtifactInvalid(`version ${version} does not match the major version suffix of ${module} (want v${wanted})`);
    return;
  }
  if (major >= 2 && !incompatible) {
    throw new ArtifactInvalid(`version ${version} of ${module} needs the module path suffix /v${major} (or +incompatible)`);
  }
  if (major < 2 && incompatible) throw new ArtifactInvalid(`invalid version ${version}: +incompatible is only for major versions 2 and above`);
}

function checkInfo(parsed: GoArtifactPath, data: Uint8Array): void {
  if (data.byteLength > SMALL_FILE_CAP) throw new ArtifactInvalid(`the .info file is ${data.byteLength} bytes, more than the ${formatBytes(SMALL_FILE_CAP)} allowed`);
  let info: unknown;
  try {
    info = JSON.parse(decodeUtf8(data, 'the .info file', 'UTF-8 text'));
  } catch (error) {
    if (error instanceof ArtifactInvalid) throw error;
    throw new ArtifactInvalid(`the .info file is not valid JSON: ${(error as Error).message}`);
  }
  if (!info || typeof info !== 'object' || Array.isArray(info)) throw new ArtifactInvalid('the .info file must be a JSON object {"Version", "Time"}');
  const { Version, Time } = info as Record<string, unknown>;
  if (typeof Version !== 'string') throw new ArtifactInvalid('the .info file has no "Version" string');
  if (Version !== parsed.version) throw new ArtifactInvalid(`the .info Version ${Version} does not match the version in the path, ${parsed.version}`);
  if (typeof Time !== 'string') throw new ArtifactInvalid('the .info file has no "Time" string');
  if (!RFC3339.test(Time) || Number.isNaN(Date.parse(Time))) throw new ArtifactInvalid(`the .info Time is not an RFC 3339 time: ${Time}`);
}

/** The module path named by the first directive of a go.mod, or a precise complaint. */
export function moduleDirective(text: string, what: string): string {
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\/\/.*$/, '').trim();
    if (line === '') continue;
    const match = /^module\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+))$/.exec(line);
    if (!match) throw new ArtifactInvalid(`${what} must start with a module directive, found: ${line.slice(0, 80)}`);
    return match[1] ?? match[2] ?? match[3]!;
  }
  throw new ArtifactInvalid(`${what} has no module directive`);
}

function checkMod(parsed: GoArtifactPath, data: Uint8Array, what: string): void {
  if (data.byteLength > GO_MOD_CAP) throw new ArtifactInvalid(`${what} is ${data.byteLength} bytes, more than the ${formatBytes(GO_MOD_CAP)} allowed`);
  const named = moduleDirective(decodeUtf8(data, what, 'UTF-8 text'), what);
  if (named !== parsed.module) throw new ArtifactInvalid(`${what} declares module ${named}, but the path is for ${parsed.module}`);
}

async function checkZip(parsed: GoArtifactPath, data: Uint8Array): Promise<void> {
  const zip = await openZip(data, 'the module .zip');
  try {
    const prefix = `${parsed.module}@${parsed.version}/`;
    if (zip.names.length === 0) throw new ArtifactInvalid('the module .zip is empty');
    for (const name of zip.names) {
      if (!name.startsWith(prefix)) throw new ArtifactInvalid(`the module .zip entry ${name} is not under ${prefix}`);
      if (name.split('/').some((segment) => segment === '..' || segment === '.') || name.includes('\\')) {
        throw new ArtifactInvalid(`the module .zip entry ${name} has an unsafe path`);
      }
    }
    const goMod = `${prefix}go.mod`;
    if (zip.names.includes(goMod)) checkMod(parsed, await zip.read(goMod, GO_MOD_CAP), "the module .zip's go.mod");
  } finally {
    zip.close();
  }
}

export function compareGoVersions(a: string, b: string): number {
  const order = semver.compare(a.slice(1), b.slice(1));
  return order !== 0 ? order : a < b ? -1 : a > b ? 1 : 0;
}
