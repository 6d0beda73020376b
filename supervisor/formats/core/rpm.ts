/**
 * The `rpm` core format: a 96-byte lead (magic ed ab ee db), a signature header padded to a
 * multiple of 8 bytes, then the main header, whose tags 1000 NAME, 1001 VERSION, 1002 RELEASE
 * and 1022 ARCH (and 1003 EPOCH when present) are read. Headers are structures of
 * magic 8e ad e8 01, 4 reserved bytes, index count, store size, 16-byte index entries
 * (tag, type, offset, count) and the data store. The file must be named
 * `<name>-<version>-<release>.<arch>.rpm` (`.src.rpm` for a source package).
 *
 * Version: `[epoch:]version-release`. No index is generated (repodata is not produced).
 */
import path from 'node:path';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata } from '../handler.js';
import { ArtifactInvalid } from '../../runtime/errors.js';

const LEAD_SIZE = 96;
const MAX_INDEX_ENTRIES = 65_536;
const MAX_STORE = 64 * 1024 * 1024;
const TAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022 } as const;
const STRING_TYPES = new Set([6, 8, 9]);
const INT32 = 4;

export const RPM_CONTENT_TYPE = 'application/x-rpm';

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
    super({ generatesIndex: false });
  }

  async validate(artifactPath: string, data: Uint8Array): Promise<void> {
    this.read(artifactPath, data);
  }

  async parseMetadata(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const rpm = this.read(artifactPath, data);
    return {
      path: artifactPath,
      version: `${rpm.epoch !== null ? `${rpm.epoch}:` : ''}${rpm.version}-${rpm.release}`,
      contentType: RPM_CONTENT_TYPE,
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(): Promise<null> {
    return null;
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
