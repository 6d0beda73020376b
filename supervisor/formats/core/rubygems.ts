/**
 * The `rubygems` core format: a `.gem` is a plain tar of `metadata.gz` (the gzip-compressed
 * YAML of a `!ruby/object:Gem::Specification`), `data.tar.gz` and, in gems built since
 * RubyGems 2, `checksums.yaml.gz`. The specification's name and version are required, and
 * the file must be named `<name>-<version>[-<platform>].gem`.
 *
 * Index: the compact index (`names`, `versions`, `info/<name>`), with each version's SHA-256
 * when known. ArtifactMetadata carries no dependencies, so the info lines list none.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { YAMLMap, parseDocument } from 'yaml';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MiB, decodeUtf8, gunzipCapped, readTar } from './archive.js';
import { describeError } from '../../../protocol/error-text.js';

const METADATA_GZ_CAP = MiB;
const METADATA_CAP = 4 * MiB;
const NAME = /^[A-Za-z0-9._-]+$/;
const VERSION = /^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const RUBY_TAGS = ['Specification', 'Version', 'Requirement', 'Dependency', 'Platform'].map((name) => ({
  tag: `!ruby/object:Gem::${name}`,
  collection: 'map' as const,
  nodeClass: YAMLMap,
  identify: () => false,
}));

export const GEM_CONTENT_TYPE = 'application/octet-stream';

export interface GemSpec {
  name: string;
  version: string;
  platform: string;
}

export class RubygemsFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'rubygems';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const spec = await this.read(artifactPath, data);
    return { path: artifactPath, version: spec.version, contentType: GEM_CONTENT_TYPE, sizeBytes: data.byteLength, checksumSha256: null };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const gems = new Map<string, Array<{ full: string; version: string; checksum: string | null }>>();
    for (const artifact of artifacts) {
      const file = path.posix.basename(artifact.path);
      if (!artifact.version || !file.endsWith('.gem')) continue;
      const stem = file.slice(0, -4);
      const at = stem.lastIndexOf(`-${artifact.version}`);
      if (at <= 0) continue;
      const rest = stem.slice(at + artifact.version.length + 1);
      if (rest !== '' && !rest.startsWith('-')) continue;
      const name = stem.slice(0, at);
      if (!gems.has(name)) gems.set(name, []);
      gems.get(name)!.push({ full: artifact.version + rest, version: artifact.version, checksum: artifact.checksumSha256 });
    }
    const encoder = new TextEncoder();
    const names = [...gems.keys()].sort();
    const files: IndexFile[] = [{ path: 'names', content: encoder.encode(`---\n${names.map((name) => `${name}\n`).join('')}`) }];
    const versionLines: string[] = [];
    for (const name of names) {
      const entries = gems.get(name)!.sort((a, b) => compareGemVersions(a.version, b.version) || (a.full < b.full ? -1 : a.full > b.full ? 1 : 0));
      const info = `---\n${entries.map((entry) => `${entry.full} |${entry.checksum ? `checksum:${entry.checksum}` : ''}\n`).join('')}`;
      files.push({ path: `info/${name}`, content: encoder.encode(info) });
      versionLines.push(`${name} ${entries.map((entry) => entry.full).join(',')} ${createHash('md5').update(info).digest('hex')}\n`);
    }
    files.splice(1, 0, { path: 'versions', content: encoder.encode(`created_at: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}\n---\n${versionLines.join('')}`) });
    return files;
  }

  private async read(artifactPath: string, data: Uint8Array): Promise<GemSpec> {
    const file = path.posix.basename(artifactPath);
    if (!file.endsWith('.gem')) throw new ArtifactInvalid(`a gem file name must end in .gem: ${file}`);
    const scan = await readTar(data, 'the .gem', (name) => name === 'metadata.gz', { memberCap: METADATA_GZ_CAP });
    const metadataGz = scan.members.get('metadata.gz');
    if (!metadataGz) throw new ArtifactInvalid('the .gem has no metadata.gz member');
    if (!scan.paths.includes('data.tar.gz')) throw new ArtifactInvalid('the .gem has no data.tar.gz member');
    const spec = parseGemSpec(decodeUtf8(await gunzipCapped(metadataGz, METADATA_CAP, "the .gem's metadata.gz"), "the .gem's metadata", 'UTF-8 text'));
    const expected = spec.platform === 'ruby' ? `${spec.name}-${spec.version}.gem` : `${spec.name}-${spec.version}-${spec.platform}.gem`;
    if (file !== expected) {
      throw new ArtifactInvalid(`the file name ${file} does not match the gem specification (name ${spec.name}, version ${spec.version}, platform ${spec.platform}; expected ${expected})`);
    }
    return spec;
  }
}

/** How many alias expansions a gem's metadata may make (the yaml package's own default). */
const MAX_ALIAS_COUNT = 100;

/** Reads name, version and platform from the YAML of a Gem::Specification. */
export function parseGemSpec(yamlText: string): GemSpec {
  const doc = parseDocument(yamlText, { customTags: RUBY_TAGS, schema: 'failsafe', prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) throw new ArtifactInvalid(`the gem's metadata is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const tag = (doc.contents as { tag?: string } | null)?.tag;
  if (tag !== '!ruby/object:Gem::Specification') {
    throw new ArtifactInvalid(`the gem's metadata is not a !ruby/object:Gem::Specification (found ${tag ?? 'an untagged document'})`);
  }
  let spec: Record<string, unknown>;
  try {
    // Psych writes aliases for repeated objects, so some are fine; a few dozen nested ones
    // expand to billions of nodes ("billion laughs"): the yaml package refuses past the count.
    spec = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (error) {
    throw new ArtifactInvalid(`the gem's metadata could not be read: ${describeError(error)}`);
  }
  const name = spec['name'];
  if (typeof name !== 'string' || name === '') throw new ArtifactInvalid("the gem's specification has no name");
  if (!NAME.test(name)) throw new ArtifactInvalid(`the gem's name is not valid: ${name}`);
  const rawVersion = spec['version'];
  const version = typeof rawVersion === 'object' && rawVersion !== null ? (rawVersion as Record<string, unknown>)['version'] : rawVersion;
  if (typeof version !== 'string' || version.trim() === '') throw new ArtifactInvalid("the gem's specification has no version");
  if (!VERSION.test(version.trim())) throw new ArtifactInvalid(`the gem's version is not a valid Gem::Version: ${version.trim()}`);
  return { name, version: version.trim(), platform: platformOf(spec['platform']) };
}

function platformOf(value: unknown): string {
  if (value === undefined || value === null || value === '') return 'ruby';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const { cpu, os, version } = value as Record<string, unknown>;
    return [cpu, os, version].filter((part) => typeof part === 'string' && part !== '').join('-') || 'ruby';
  }
  throw new ArtifactInvalid("the gem's platform is not valid");
}

/** Gem::Version order: numeric segments by value, a letter segment marks a prerelease. */
export function compareGemVersions(a: string, b: string): number {
  const segments = (v: string) => (v.replace(/-/g, '.pre.').match(/[0-9]+|[a-z]+/gi) ?? []).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const sa = segments(a);
  const sb = segments(b);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const x = sa[i] ?? 0;
    const y = sb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === 'string' && typeof y === 'number') return -1;
    if (typeof x === 'number' && typeof y === 'string') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
