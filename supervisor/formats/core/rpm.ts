/**
 * The `rpm` core format: a 96-byte lead (magic ed ab ee db), a signature header padded to a
 * multiple of 8 bytes, then the main header, whose tags 1000 NAME, 1001 VERSION, 1002 RELEASE
 * and 1022 ARCH (and 1003 EPOCH when present) are read. Headers are structures of
 * magic 8e ad e8 01, 4 reserved bytes, index count, store size, 16-byte index entries
 * (tag, type, offset, count) and the data store. The file must be named
 * `<name>-<version>-<release>.<arch>.rpm` (`.src.rpm` for a source package).
 *
 * Version: `[epoch:]version-release`.
 *
 * The index is a yum/dnf repository's metadata: `repodata/repomd.xml` pointing at
 * `repodata/primary.xml.gz`, one `<package>` per binary package (source packages are left
 * out, as createrepo does for binary repositories) with its name, arch, epoch/version/release
 * (from the enforced file name and the stored version), SHA-256, size and location. What the
 * metadata handed to generate-index does not carry (summary, requires, provides beyond the
 * package itself, file lists) is left empty, so clients can find and fetch packages but
 * resolve no dependencies from this index.
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { XMLBuilder } from 'fast-xml-parser';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { sha256Hex } from '../../sha256.js';

const LEAD_SIZE = 96;
const MAX_INDEX_ENTRIES = 65_536;
const MAX_STORE = 64 * 1024 * 1024;
const TAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022 } as const;
const STRING_TYPES = new Set([6, 8, 9]);
const INT32 = 4;

export const RPM_CONTENT_TYPE = 'application/x-rpm';
const PRIMARY_PATH = 'repodata/primary.xml.gz';
const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
const xml = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, indentBy: '  ', suppressEmptyNode: true });
/** `[epoch:]version-release` as parseMetadata writes it. */
const STORED_VERSION = /^(?:(\d+):)?([^:-]+)-([^:-]+)$/;

export interface RpmInfo {
  name: string;
  version: string;
  release: string;
  arch: string;
  epoch: number | null;
  source: boolean;
}

export class RpmFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'rpm';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const rpm = this.read(artifactPath, data);
    return {
      path: artifactPath,
      version: `${rpm.epoch !== null ? `${rpm.epoch}:` : ''}${rpm.version}-${rpm.release}`,
      contentType: RPM_CONTENT_TYPE,
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const packages = artifacts.flatMap((artifact) => {
      const entry = repodataEntry(artifact);
      return entry ? [entry] : [];
    });
    const primary = Buffer.from(
      XML_DECLARATION +
        xml.build({
          metadata: { '@_xmlns': 'http://linux.duke.edu/metadata/common', '@_xmlns:rpm': 'http://linux.duke.edu/metadata/rpm', '@_packages': packages.length, package: packages },
        }),
    );
    // Deterministic bytes (no mtime in the gzip header): the same artifacts give the same index.
    const primaryGz = zlib.gzipSync(primary, { level: 9 });
    const primarySha = sha256Hex(primaryGz);
    const repomd = Buffer.from(
      XML_DECLARATION +
        xml.build({
          repomd: {
            '@_xmlns': 'http://linux.duke.edu/metadata/repo',
            '@_xmlns:rpm': 'http://linux.duke.edu/metadata/rpm',
            // Changes whenever the package set does, which is what clients compare.
            revision: primarySha.slice(0, 16),
            data: {
              '@_type': 'primary',
              checksum: { '@_type': 'sha256', '#text': primarySha },
              'open-checksum': { '@_type': 'sha256', '#text': sha256Hex(primary) },
              location: { '@_href': PRIMARY_PATH },
              size: primaryGz.byteLength,
              'open-size': primary.byteLength,
            },
          },
        }),
    );
    return [
      { path: 'repodata/repomd.xml', content: repomd },
      { path: PRIMARY_PATH, content: primaryGz },
    ];
  }

  private read(artifactPath: string, data: Uint8Array): RpmInfo {
    const file = path.posix.basename(artifactPath);
    if (!file.endsWith('.rpm')) throw new ArtifactInvalid(`an RPM file name must end in .rpm: ${file}`);
    const rpm = readRpm(data);
    const expected = `${rpm.name}-${rpm.version}-${rpm.release}.${rpm.source ? 'src' : rpm.arch}.rpm`;
    if (file !== expected) {
      throw new ArtifactInvalid(`the file name ${file} does not match the RPM header (name ${rpm.name}, version ${rpm.version}, release ${rpm.release}, arch ${rpm.arch}; expected ${expected})`);
    }
    return rpm;
  }
}

interface Header {
  entries: Array<{ tag: number; type: number; offset: number; count: number }>;
  store: Buffer;
  end: number;
}

function readHeader(buf: Buffer, start: number, what: string): Header {
  if (start + 16 > buf.length) throw new ArtifactInvalid(`the RPM is truncated: the ${what} is missing`);
  if (buf.readUInt32BE(start) !== 0x8eade801) throw new ArtifactInvalid(`the RPM's ${what} has a bad magic number at byte ${start}`);
  const count = buf.readUInt32BE(start + 8);
  const storeSize = buf.readUInt32BE(start + 12);
  if (count > MAX_INDEX_ENTRIES || storeSize > MAX_STORE) throw new ArtifactInvalid(`the RPM's ${what} declares ${count} entries and ${storeSize} bytes, more than allowed`);
  const storeStart = start + 16 + count * 16;
  const end = storeStart + storeSize;
  if (end > buf.length) throw new ArtifactInvalid(`the RPM is truncated: the ${what} needs ${end - start} bytes, only ${buf.length - start} remain`);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const at = start + 16 + i * 16;
    const entry = { tag: buf.readUInt32BE(at), type: buf.readUInt32BE(at + 4), offset: buf.readUInt32BE(at + 8), count: buf.readUInt32BE(at + 12) };
    if (entry.offset >= storeSize) throw new ArtifactInvalid(`the RPM's ${what} tag ${entry.tag} points outside the header store`);
    entries.push(entry);
  }
  return { entries, store: buf.subarray(storeStart, end), end };
}

function stringTag(header: Header, tag: number, label: string): string {
  const entry = header.entries.find((candidate) => candidate.tag === tag);
  if (!entry) throw new ArtifactInvalid(`the RPM header has no ${label} tag (${tag})`);
  if (!STRING_TYPES.has(entry.type)) throw new ArtifactInvalid(`the RPM header ${label} tag (${tag}) is not a string`);
  const nul = header.store.indexOf(0, entry.offset);
  if (nul < 0) throw new ArtifactInvalid(`the RPM header ${label} tag (${tag}) is not terminated`);
  const value = header.store.toString('utf8', entry.offset, nul);
  if (value === '' || /[\s/]/.test(value)) throw new ArtifactInvalid(`the RPM header ${label} is not valid: "${value}"`);
  return value;
}

/** Reads the lead and both headers of an RPM held in memory. */
export function readRpm(data: Uint8Array): RpmInfo {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4 || buf.readUInt32BE(0) !== 0xedabeedb) throw new ArtifactInvalid('not an RPM: the lead magic ed ab ee db is missing');
  if (buf.length < LEAD_SIZE) throw new ArtifactInvalid('the RPM is truncated: the lead is shorter than 96 bytes');
  const major = buf[4]!;
  if (major !== 3 && major !== 4) throw new ArtifactInvalid(`the RPM lead has an unsupported format version ${major}`);
  const type = buf.readUInt16BE(6);
  if (type !== 0 && type !== 1) throw new ArtifactInvalid(`the RPM lead has an unknown package type ${type}`);
  const signature = readHeader(buf, LEAD_SIZE, 'signature header');
  const mainStart = signature.end + ((8 - (signature.end % 8)) % 8);
  const main = readHeader(buf, mainStart, 'main header');
  const epochEntry = main.entries.find((entry) => entry.tag === TAG.EPOCH);
  let epoch: number | null = null;
  if (epochEntry) {
    if (epochEntry.type !== INT32 || epochEntry.offset + 4 > main.store.length) throw new ArtifactInvalid('the RPM header EPOCH tag (1003) is not a 32-bit integer');
    epoch = main.store.readUInt32BE(epochEntry.offset);
  }
  return {
    name: stringTag(main, TAG.NAME, 'NAME'),
    version: stringTag(main, TAG.VERSION, 'VERSION'),
    release: stringTag(main, TAG.RELEASE, 'RELEASE'),
    arch: stringTag(main, TAG.ARCH, 'ARCH'),
    epoch,
    source: type === 1,
  };
}

/** A primary.xml `<package>` for a stored binary RPM, or null for a source package or a path that is not one. */
function repodataEntry(artifact: ArtifactMetadata): Record<string, unknown> | null {
  const version = STORED_VERSION.exec(artifact.version ?? '');
  const file = path.posix.basename(artifact.path);
  if (!version || !artifact.checksumSha256 || !file.endsWith('.rpm')) return null;
  const [, epoch = '0', ver, rel] = version;
  const stem = file.slice(0, -'.rpm'.length);
  const arch = stem.slice(stem.lastIndexOf('.') + 1);
  const suffix = `-${ver}-${rel}.${arch}`;
  if (arch === 'src' || !stem.endsWith(suffix)) return null;
  const name = stem.slice(0, -suffix.length);
  const evr = { '@_epoch': epoch, '@_ver': ver, '@_rel': rel };
  return {
    '@_type': 'rpm',
    name,
    arch,
    version: evr,
    checksum: { '@_type': 'sha256', '@_pkgid': 'YES', '#text': artifact.checksumSha256 },
    size: { '@_package': artifact.sizeBytes },
    location: { '@_href': artifact.path },
    format: { 'rpm:provides': { 'rpm:entry': { '@_name': name, '@_flags': 'EQ', ...evr } } },
  };
}
