/**
 * The `nuget` core format: a `.nupkg` is a zip whose root holds one `.nuspec` (XML) with
 * `package/metadata/id` and `version`. The file must be named `<id>.<version>.nupkg` (the id
 * compared case-insensitively, the version as written or in NuGet's normalized form).
 *
 * Index: the V3 flat-container version list, `<id-lowercase>/index.json`
 * (`{"versions": [...]}`, lowercase normalized versions in ascending order).
 */
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MiB, decodeUtf8, openZip } from './archive.js';

const NUSPEC_CAP = MiB;
const ID = /^\w+(?:[_.-]\w+)*$/;
const VERSION = /^(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export const NUGET_CONTENT_TYPE = 'application/octet-stream';

interface Nuspec {
  id: string;
  version: string;
}

export class NugetFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'nuget';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const nuspec = await this.read(artifactPath, data);
    return {
      path: artifactPath,
      version: nuspec.version,
      contentType: NUGET_CONTENT_TYPE,
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const byId = new Map<string, Set<string>>();
    for (const artifact of artifacts) {
      const file = path.posix.basename(artifact.path);
      if (!artifact.version || !file.toLowerCase().endsWith('.nupkg')) continue;
      const id = idFromFileName(file, artifact.version);
      if (!id) continue;
      const key = id.toLowerCase();
      if (!byId.has(key)) byId.set(key, new Set());
      byId.get(key)!.add(normalizeVersion(artifact.version).toLowerCase());
    }
    return [...byId.keys()].sort().map((id) => ({
      path: `${id}/index.json`,
      content: new TextEncoder().encode(JSON.stringify({ versions: [...byId.get(id)!].sort(compareNugetVersions) }, null, 2) + '\n'),
    }));
  }

  private async read(artifactPath: string, data: Uint8Array): Promise<Nuspec> {
    const file = path.posix.basename(artifactPath);
    if (!file.toLowerCase().endsWith('.nupkg')) throw new ArtifactInvalid(`a NuGet package file name must end in .nupkg: ${file}`);
    const zip = await openZip(data, 'the .nupkg');
    let text: string;
    try {
      const nuspecs = zip.names.filter((name) => !name.includes('/') && name.toLowerCase().endsWith('.nuspec'));
      if (nuspecs.length === 0) throw new ArtifactInvalid('the .nupkg has no .nuspec file at its root');
      if (nuspecs.length > 1) throw new ArtifactInvalid(`the .nupkg has more than one .nuspec file at its root: ${nuspecs.join(', ')}`);
      text = decodeUtf8(await zip.read(nuspecs[0]!, NUSPEC_CAP), 'the .nuspec', 'UTF-8 text');
    } finally {
      zip.close();
    }
    const nuspec = parseNuspec(text);
    const expected = `${nuspec.id}.${normalizeVersion(nuspec.version)}.nupkg`.toLowerCase();
    const literal = `${nuspec.id}.${nuspec.version}.nupkg`.toLowerCase();
    if (file.toLowerCase() !== expected && file.toLowerCase() !== literal) {
      throw new ArtifactInvalid(`the file name ${file} does not match the .nuspec id ${nuspec.id} and version ${nuspec.version} (expected ${nuspec.id}.${normalizeVersion(nuspec.version)}.nupkg)`);
    }
    return nuspec;
  }
}

export function parseNuspec(text: string): Nuspec {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new ArtifactInvalid(`the .nuspec is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  const doc = new XMLParser({ ignoreAttributes: true, removeNSPrefix: true, parseTagValue: false, trimValues: true }).parse(text) as Record<string, unknown>;
  const pkg = doc['package'];
  if (!pkg || typeof pkg !== 'object') throw new ArtifactInvalid('the .nuspec has no <package> root element');
  const metadata = (pkg as Record<string, unknown>)['metadata'];
  if (!metadata || typeof metadata !== 'object') throw new ArtifactInvalid('the .nuspec has no <metadata> element');
  const field = (name: string): string => {
    const value = (metadata as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value.trim() === '') throw new ArtifactInvalid(`the .nuspec metadata has no <${name}>`);
    return value.trim();
  };
  const id = field('id');
  const version = field('version');
  if (id.length > 100 || !ID.test(id)) throw new ArtifactInvalid(`the .nuspec id is not a valid NuGet package id: ${id}`);
  if (!VERSION.test(version)) throw new ArtifactInvalid(`the .nuspec version is not a valid NuGet version: ${version}`);
  return { id, version };
}

/**
 * NuGet's normalized version: no leading zeros, at least three parts, a fourth part only when
 * it is not zero, no build metadata ("1.0" → "1.0.0", "1.2.3.0" → "1.2.3").
 */
export function normalizeVersion(version: string): string {
  const match = VERSION.exec(version);
  if (!match) return version;
  const parts = [match[1], match[2], match[3] ?? '0'].map((part) => String(Number(part)));
  if (match[4] !== undefined && Number(match[4]) !== 0) parts.push(String(Number(match[4])));
  return parts.join('.') + (match[5] ? `-${match[5]}` : '');
}

/** SemVer 2 precedence extended to NuGet's optional fourth number; case-insensitive labels. */
export function compareNugetVersions(a: string, b: string): number {
  const ma = VERSION.exec(a);
  const mb = VERSION.exec(b);
  if (!ma || !mb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 4; i++) {
    const diff = Number(ma[i] ?? 0) - Number(mb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  const pa = ma[5]?.toLowerCase();
  const pb = mb[5]?.toLowerCase();
  if (pa === pb) return 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  const la = pa.split('.');
  const lb = pb.split('.');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    const x = la[i];
    const y = lb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const diff = Number(x) - Number(y);
      if (diff !== 0) return Math.sign(diff);
    } else if (nx !== ny) {
      return nx ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

function idFromFileName(file: string, version: string): string | null {
  const lower = file.toLowerCase();
  for (const candidate of [version, normalizeVersion(version)]) {
    const suffix = `.${candidate}.nupkg`.toLowerCase();
    if (lower.endsWith(suffix) && lower.length > suffix.length) return file.slice(0, file.length - suffix.length);
  }
  return null;
}
