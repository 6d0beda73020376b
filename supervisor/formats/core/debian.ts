/**
 * The `debian` core format: a `.deb` is an ar archive of `debian-binary` ("2.0"),
 * `control.tar[.gz]` and `data.tar.*`. The `control` file of the control archive must name
 * Package, Version and Architecture, and the file must be named
 * `<Package>_<Version without epoch>_<Architecture>.deb` as dpkg-name names it.
 *
 * Only gzip-compressed (or uncompressed) control archives are read: a control.tar.xz or
 * control.tar.zst is refused with a message saying so.
 *
 * Index: a flat-repository `Packages` file (and `Packages.gz`), one stanza per package with
 * Filename, Size and SHA256 when the checksum is known, ordered by package, then by dpkg
 * version order, then by architecture.
 */
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MiB, decodeUtf8, gunzipCapped, readAr, readTar } from './archive.js';

const CONTROL_TAR_CAP = 16 * MiB;
const CONTROL_FILE_CAP = MiB;
const FILE_NAME = /^([^_/]+)_([^_/]+)_([^_/]+)\.deb$/;
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION = /^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$/;
const ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;

export const DEBIAN_CONTENT_TYPE = 'application/vnd.debian.binary-package';

export interface DebControl {
  package: string;
  version: string;
  architecture: string;
  fields: Map<string, string>;
}

export class DebianFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'debian';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const control = await this.read(artifactPath, data);
    return {
      path: artifactPath,
      version: control.version,
      contentType: DEBIAN_CONTENT_TYPE,
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const entries: Array<{ pkg: string; version: string; arch: string; artifact: ArtifactMetadata }> = [];
    for (const artifact of artifacts) {
      const match = FILE_NAME.exec(path.posix.basename(artifact.path));
      if (!match) continue;
      entries.push({ pkg: match[1]!, version: artifact.version ?? decodeURIComponent(match[2]!), arch: match[3]!, artifact });
    }
    entries.sort((a, b) => (a.pkg !== b.pkg ? (a.pkg < b.pkg ? -1 : 1) : compareDebianVersions(a.version, b.version) || (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0)));
    const stanzas = entries.map(({ pkg, version, arch, artifact }) => {
      const lines = [`Package: ${pkg}`, `Version: ${version}`, `Architecture: ${arch}`, `Filename: ${artifact.path.replace(/^\/+/, '')}`, `Size: ${artifact.sizeBytes}`];
      if (artifact.checksumSha256) lines.push(`SHA256: ${artifact.checksumSha256}`);
      return lines.join('\n') + '\n';
    });
    const packages = new TextEncoder().encode(stanzas.join('\n'));
    return [
      { path: 'Packages', content: packages },
      { path: 'Packages.gz', content: new Uint8Array(gzipSync(packages)) },
    ];
  }

  private async read(artifactPath: string, data: Uint8Array): Promise<DebControl> {
    const file = path.posix.basename(artifactPath);
    const name = FILE_NAME.exec(file);
    if (!name) throw new ArtifactInvalid(`a Debian package file name must be <package>_<version>_<architecture>.deb: ${file}`);
    const control = await readDebControl(data);
    const fileVersion = decodeURIComponent(name[2]!);
    const withoutEpoch = control.version.replace(/^\d+:/, '');
    if (name[1] !== control.package || (fileVersion !== withoutEpoch && fileVersion !== control.version) || name[3] !== control.architecture) {
      throw new ArtifactInvalid(
        `the file name ${file} does not match the control file (Package ${control.package}, Version ${control.version}, Architecture ${control.architecture}; expected ${control.package}_${withoutEpoch}_${control.architecture}.deb)`,
      );
    }
    return control;
  }
}

/** Reads and checks the `control` file of a .deb held in memory. */
export async function readDebControl(data: Uint8Array): Promise<DebControl> {
  const members = readAr(data, 'the .deb');
  if (members.length === 0) throw new ArtifactInvalid('the .deb is an empty ar archive');
  const first = members[0]!;
  if (first.name !== 'debian-binary') throw new ArtifactInvalid(`the .deb's first member must be debian-binary, found ${first.name}`);
  const format = first.data.toString('latin1').trim();
  if (!/^2\.\d+$/.test(format)) throw new ArtifactInvalid(`the .deb's debian-binary says format "${format.slice(0, 20)}", expected 2.x`);
  const controlMember = members.find((member) => /^control\.tar(\.[a-z0-9]+)?$/.test(member.name));
  if (!controlMember) throw new ArtifactInvalid('the .deb has no control.tar member');
  if (!members.some((member) => /^data\.tar(\.[a-z0-9]+)?$/.test(member.name))) throw new ArtifactInvalid('the .deb has no data.tar member');
  let controlTar: Uint8Array;
  switch (controlMember.name) {
    case 'control.tar':
      controlTar = controlMember.data;
      break;
    case 'control.tar.gz':
      controlTar = await gunzipCapped(controlMember.data, CONTROL_TAR_CAP, 'the .deb member control.tar.gz');
      break;
    case 'control.tar.xz':
    case 'control.tar.zst': {
      const method = controlMember.name.endsWith('.xz') ? 'xz' : 'zstd';
      throw new ArtifactInvalid(`the .deb's control archive is ${controlMember.name} (${method}-compressed), which is not supported: only control.tar.gz and control.tar are read`);
    }
    default:
      throw new ArtifactInvalid(`the .deb's control archive ${controlMember.name} uses an unknown compression`);
  }
  const scan = await readTar(controlTar, `the .deb member ${controlMember.name}`, (name) => name === 'control', { memberCap: CONTROL_FILE_CAP });
  const controlFile = scan.members.get('control');
  if (!controlFile) throw new ArtifactInvalid(`the .deb member ${controlMember.name} has no control file`);
  return parseControl(decodeUtf8(controlFile, 'the control file', 'UTF-8 text'));
}

/** Parses the first stanza of a Debian control file (deb822). */
export function parseControl(text: string): DebControl {
  const fields = new Map<string, string>();
  let current: string | null = null;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      if (fields.size > 0) break;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current) throw new ArtifactInvalid(`the control file line ${i + 1} is a continuation line with no field before it`);
      fields.set(current, `${fields.get(current)}\n${line}`);
      continue;
    }
    const match = /^([!-9;-~][!-9;-~]*):(.*)$/.exec(line);
    if (!match) throw new ArtifactInvalid(`the control file line ${i + 1} is not a "Field: value" line: ${line.slice(0, 80)}`);
    current = match[1]!.toLowerCase();
    if (fields.has(current)) throw new ArtifactInvalid(`the control file repeats the field ${match[1]}`);
    fields.set(current, match[2]!.trim());
  }
  const required = (name: string): string => {
    const value = fields.get(name.toLowerCase());
    if (value === undefined || value === '') throw new ArtifactInvalid(`the control file has no ${name} field`);
    return value;
  };
  const pkg = required('Package');
  const version = required('Version');
  const architecture = required('Architecture');
  if (!PACKAGE.test(pkg)) throw new ArtifactInvalid(`the control file Package is not a valid Debian package name: ${pkg}`);
  if (!VERSION.test(version)) throw new ArtifactInvalid(`the control file Version is not a valid Debian version: ${version}`);
  if (!ARCHITECTURE.test(architecture)) throw new ArtifactInvalid(`the control file Architecture is not a valid architecture: ${architecture}`);
  return { package: pkg, version, architecture, fields };
}

function splitVersion(version: string): [number, string, string] {
  const colon = version.indexOf(':');
  const epoch = colon > 0 ? Number(version.slice(0, colon)) : 0;
  const rest = colon > 0 ? version.slice(colon + 1) : version;
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? [epoch, rest.slice(0, dash), rest.slice(dash + 1)] : [epoch, rest, ''];
}

function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: alternating non-digit runs (with "~" before everything) and numbers. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !/\d/.test(a[i]!)) || (j < b.length && !/\d/.test(b[j]!))) {
      const ac = i < a.length && !/\d/.test(a[i]!) ? order(a[i]) : 0;
      const bc = j < b.length && !/\d/.test(b[j]!) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let diff = 0;
    while (i < a.length && /\d/.test(a[i]!) && j < b.length && /\d/.test(b[j]!)) {
      if (!diff) diff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /\d/.test(a[i]!)) return 1;
    if (j < b.length && /\d/.test(b[j]!)) return -1;
    if (diff) return diff;
  }
  return 0;
}

/** Debian version order (epoch, upstream version, revision), as `dpkg --compare-versions`. */
export function compareDebianVersions(a: string, b: string): number {
  const [ea, ua, ra] = splitVersion(a);
  const [eb, ub, rb] = splitVersion(b);
  if (ea !== eb) return Math.sign(ea - eb);
  return Math.sign(compareFragment(ua, ub) || compareFragment(ra, rb));
}
