/**
 * The `pypi` core format: wheels (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`,
 * a zip with `{name}-{version}.dist-info/METADATA`) and source distributions
 * (`{name}-{version}.tar.gz`, or a legacy `.zip`, with `{name}-{version}/PKG-INFO`), named per
 * the packaging specifications; the Name and Version of the core metadata must agree with the
 * file name (names compared after PEP 503 normalization).
 *
 * The index is the PEP 503 simple repository: `simple/index.html` listing the normalized
 * projects, and `simple/<project>/index.html` linking to each file (relative links, with a
 * `#sha256=` fragment when the checksum is known).
 */
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { baseName, decodeUtf8, readTarGz, readZip, type ArchiveLimits } from './archive.js';

/** PEP 440 public and local versions (packaging's VERSION_PATTERN), case-insensitive. */
const PEP440 =
  /^v?(?:(?:\d+!)?\d+(?:\.\d+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?(?:[-_.]?dev[-_.]?\d*)?)(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;
const PROJECT_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

export type PypiKind = 'wheel' | 'sdist';

export interface PypiFileName {
  kind: PypiKind;
  /** The name as written in the file name. */
  name: string;
  /** PEP 503 normalized. */
  project: string;
  version: string;
  extension: 'whl' | 'tar.gz' | 'zip';
}

export class PypiFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'pypi';

  constructor(private readonly limits: ArchiveLimits = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.check(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const file = await this.check(artifactPath, data);
    return {
      path: artifactPath,
      version: file.version,
      contentType: file.extension === 'tar.gz' ? 'application/gzip' : 'application/zip',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  private async check(artifactPath: string, data: Uint8Array): Promise<PypiFileName> {
    const file = parsePypiFileName(baseName(artifactPath));
    let what: string;
    let bytes: Buffer | undefined;
    if (file.kind === 'wheel') {
      what = 'the wheel';
      const isMetadata = (member: string): boolean => /^[^/]+\.dist-info\/METADATA$/.test(member);
      const contents = await readZip(data, 'the wheel', isMetadata, this.limits);
      const found = [...contents.members.keys()];
      if (found.length === 0) throw new ArtifactInvalid('the wheel has no *.dist-info/METADATA');
      if (found.length > 1) throw new ArtifactInvalid(`the wheel has more than one *.dist-info/METADATA: ${found.join(', ')}`);
      what = found[0]!;
      bytes = contents.members.get(what);
    } else {
      const stem = baseName(artifactPath).slice(0, -(file.extension.length + 1));
      what = `${stem}/PKG-INFO`;
      const want = (member: string): boolean => member === what;
      const contents = file.extension === 'zip' ? await readZip(data, 'the sdist', want, this.limits) : await readTarGz(data, 'the sdist', want, this.limits);
      bytes = contents.members.get(what);
      if (!bytes) throw new ArtifactInvalid(`the sdist has no ${what}`);
    }
    const metadata = parseCoreMetadata(decodeUtf8(bytes!, what), what);
    if (normalizeProjectName(metadata.name) !== file.project) {
      throw new ArtifactInvalid(`Name ${metadata.name} in ${what} does not match the file name (${file.name})`);
    }
    if (normalizeVersionText(metadata.version) !== normalizeVersionText(file.version)) {
      throw new ArtifactInvalid(`Version ${metadata.version} in ${what} does not match the file name (${file.version})`);
    }
    return file;
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const projects = new Map<string, Array<{ artifact: ArtifactMetadata; file: string }>>();
    for (const artifact of artifacts) {
      const file = baseName(artifact.path);
      let parsed: PypiFileName;
      try {
        parsed = parsePypiFileName(file);
      } catch {
        continue;
      }
      projects.set(parsed.project, [...(projects.get(parsed.project) ?? []), { artifact, file }]);
    }
    const names = [...projects.keys()].sort();
    const page = (title: string, links: string[]): Uint8Array =>
      new TextEncoder().encode(
        [
          '<!DOCTYPE html>',
          '<html>',
          '  <head>',
          '    <meta name="pypi:repository-version" content="1.0">',
          `    <title>${escapeHtml(title)}</title>`,
          '  </head>',
          '  <body>',
          ...links.map((link) => `    ${link}<br>`),
          '  </body>',
          '</html>',
          '',
        ].join('\n'),
      );
    const files: IndexFile[] = [
      { path: 'simple/index.html', content: page('Simple index', names.map((name) => `<a href="${escapeHtml(encodeURIComponent(name))}/">${escapeHtml(name)}</a>`)) },
    ];
    for (const name of names) {
      const entries = projects.get(name)!.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
      const links = entries.map(({ artifact, file }) => {
        const href = '../../' + artifact.path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
        const fragment = artifact.checksumSha256 && /^[0-9a-f]{64}$/i.test(artifact.checksumSha256) ? `#sha256=${artifact.checksumSha256.toLowerCase()}` : '';
        return `<a href="${escapeHtml(href + fragment)}">${escapeHtml(file)}</a>`;
      });
      files.push({ path: `simple/${name}/index.html`, content: page(`Links for ${name}`, links) });
    }
    return files;
  }
}

/** PEP 503: runs of `-`, `_` and `.` become one `-`, lower case. */
export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function normalizeVersionText(version: string): string {
  return version.toLowerCase().replace(/^v/, '');
}

/** Parses a wheel or sdist file name; ArtifactInvalid when it is neither. */
export function parsePypiFileName(file: string): PypiFileName {
  if (file.endsWith('.whl')) {
    const parts = file.slice(0, -'.whl'.length).split('-');
    if (parts.length !== 5 && parts.length !== 6) {
      throw new ArtifactInvalid(`${file} is not a valid wheel file name: expected {name}-{version}(-{build})?-{python tag}-{abi tag}-{platform tag}.whl`);
    }
    const [name, version] = parts as [string, string];
    if (!/^[A-Za-z0-9_.]+$/.test(name) || !PROJECT_NAME.test(name)) throw new ArtifactInvalid(`${file} is not a valid wheel file name: "${name}" is not a valid distribution name`);
    if (!PEP440.test(version)) throw new ArtifactInvalid(`${file} is not a valid wheel file name: "${version}" is not a valid PEP 440 version`);
    if (parts.length === 6 && !/^\d[A-Za-z0-9_.]*$/.test(parts[2]!)) {
      throw new ArtifactInvalid(`${file} is not a valid wheel file name: the build tag "${parts[2]}" must start with a digit`);
    }
    if (parts.slice(-3).some((tag) => !/^[A-Za-z0-9_.]+$/.test(tag))) throw new ArtifactInvalid(`${file} is not a valid wheel file name: malformed compatibility tags`);
    return { kind: 'wheel', name, project: normalizeProjectName(name), version, extension: 'whl' };
  }
  const extension = file.endsWith('.tar.gz') ? 'tar.gz' : file.endsWith('.zip') ? 'zip' : null;
  if (!extension) throw new ArtifactInvalid(`${file} is not a Python distribution: expected a .whl wheel or a .tar.gz (or .zip) sdist`);
  const stem = file.slice(0, -(extension.length + 1));
  for (let dash = stem.lastIndexOf('-'); dash > 0; dash = stem.lastIndexOf('-', dash - 1)) {
    const name = stem.slice(0, dash);
    const version = stem.slice(dash + 1);
    if (PEP440.test(version) && PROJECT_NAME.test(name)) return { kind: 'sdist', name, project: normalizeProjectName(name), version, extension };
  }
  throw new ArtifactInvalid(`${file} is not a valid sdist file name: expected {name}-{version}.${extension} with a PEP 440 version`);
}

/** Reads the Name and Version of core metadata (METADATA, PKG-INFO): RFC 822 style headers. */
export function parseCoreMetadata(text: string, what: string): { name: string; version: string } {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const match = /^([A-Za-z0-9-]+):[ \t]*(.*)$/.exec(line);
    if (!match) throw new ArtifactInvalid(`${what} is not valid core metadata: malformed header line "${line.slice(0, 80)}"`);
    last = match[1]!.toLowerCase();
    if (!fields.has(last)) fields.set(last, match[2]!.trim());
  }
  const name = fields.get('name');
  const version = fields.get('version');
  if (!name) throw new ArtifactInvalid(`${what} has no Name field`);
  if (!version) throw new ArtifactInvalid(`${what} has no Version field`);
  if (!PEP440.test(version)) throw new ArtifactInvalid(`Version ${version} in ${what} is not a valid PEP 440 version`);
  return { name, version };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
