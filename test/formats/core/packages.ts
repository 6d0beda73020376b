// Builders of real, small artifacts for the core format tests: tar (ustar), ar, .nupkg,
// .deb, .gem and .rpm, written byte by byte so the tests need no packaging tool.
import { createHash } from 'node:crypto';
import { makeZip } from '../../support/zips.js';
import { gzip } from './artifacts.js';

// One copy of these for every core format test, whichever of the two builder modules it imports.
export { expectInvalid, gzip, text } from './artifacts.js';

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface TarFile {
  name: string;
  data: Uint8Array | string;
  /** '0' file (default), '5' folder. */
  type?: '0' | '5';
}

/** A ustar archive with the two closing zero blocks. */
export function makeTar(files: TarFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const data = typeof file.data === 'string' ? Buffer.from(file.data) : Buffer.from(file.data);
    const header = Buffer.alloc(512);
    header.write(file.name, 0, 100, 'utf8');
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    header.write(data.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    header.write('14000000000\0', 136, 'latin1');
    header.write('        ', 148, 'latin1');
    header.write(file.type ?? '0', 156, 'latin1');
    header.write('ustar\0', 257, 'latin1');
    header.write('00', 263, 'latin1');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function makeAr(members: Array<{ name: string; data: Uint8Array }>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n', 'latin1')];
  for (const member of members) {
    const header =
      member.name.padEnd(16) + '1700000000'.padEnd(12) + '0'.padEnd(6) + '0'.padEnd(6) + '100644'.padEnd(8) + String(member.data.length).padEnd(10) + '`\n';
    parts.push(Buffer.from(header, 'latin1'), Buffer.from(member.data));
    if (member.data.length % 2) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

export function nuspec(id: string, version: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>${id}</id>
    <version>${version}</version>
    <authors>tests</authors>
    <description>A test package</description>
  </metadata>
</package>
`;
}

export function makeNupkg(id: string, version: string, options: { nuspec?: string; nuspecName?: string } = {}): Buffer {
  return makeZip([
    { name: '_rels/.rels', data: '<Relationships/>' },
    { name: options.nuspecName ?? `${id}.nuspec`, data: options.nuspec ?? nuspec(id, version) },
    { name: 'lib/net8.0/Test.dll', data: 'MZ fake assembly' },
    { name: '[Content_Types].xml', data: '<Types/>' },
  ]);
}

export function debControl(fields: Record<string, string>): string {
  return Object.entries(fields).map(([key, value]) => `${key}: ${value}\n`).join('');
}

export function makeDeb(options: {
  control?: string;
  controlMember?: string;
  controlData?: Uint8Array;
  members?: Array<{ name: string; data: Uint8Array }>;
}): Buffer {
  const control = options.control ?? debControl({ Package: 'hello', Version: '2.10-2', Architecture: 'amd64', Maintainer: 'T <t@example.org>', Description: 'hi' });
  const controlTar = options.controlData ?? gzip(makeTar([{ name: './', data: '', type: '5' }, { name: './control', data: control }, { name: './md5sums', data: '' }]));
  const members = options.members ?? [
    { name: 'debian-binary', data: bytes('2.0\n') },
    { name: options.controlMember ?? 'control.tar.gz', data: controlTar },
    { name: 'data.tar.gz', data: gzip(makeTar([{ name: './usr/bin/hello', data: '#!/bin/sh\necho hi\n' }])) },
  ];
  return makeAr(members);
}

export function gemSpecYaml(name: string, version: string, platform = 'ruby'): string {
  return `--- !ruby/object:Gem::Specification
name: ${name}
version: !ruby/object:Gem::Version
  version: ${version}
platform: ${platform}
authors:
- Tester
autorequire:
bindir: bin
cert_chain: []
date: 2024-01-01 00:00:00.000000000 Z
dependencies:
- !ruby/object:Gem::Dependency
  name: rake
  requirement: !ruby/object:Gem::Requirement
    requirements:
    - - ">="
      - !ruby/object:Gem::Version
        version: '0'
  type: :development
  prerelease: false
  version_requirements: !ruby/object:Gem::Requirement
    requirements:
    - - ">="
      - !ruby/object:Gem::Version
        version: '0'
files:
- lib/${name}.rb
require_paths:
- lib
required_ruby_version: !ruby/object:Gem::Requirement
  requirements:
  - - ">="
    - !ruby/object:Gem::Version
      version: '0'
rubygems_version: 3.4.10
specification_version: 4
summary: A test gem
`;
}

export function makeGem(options: { metadata?: string; metadataGz?: Uint8Array; files?: TarFile[] } & ({ name: string; version: string } | { name?: undefined; version?: undefined })): Buffer {
  const metadataGz = options.metadataGz ?? gzip(options.metadata ?? gemSpecYaml(options.name ?? 'demo', options.version ?? '1.0.0'));
  const data = gzip(makeTar([{ name: `lib/${options.name ?? 'demo'}.rb`, data: 'module Demo; end\n' }]));
  return makeTar(
    options.files ?? [
      { name: 'metadata.gz', data: metadataGz },
      { name: 'data.tar.gz', data },
      { name: 'checksums.yaml.gz', data: gzip(`---\nSHA256:\n  data.tar.gz: ${sha256(data)}\n`) },
    ],
  );
}

export interface RpmTags {
  name: string;
  version: string;
  release: string;
  arch: string;
  epoch?: number;
}

/** An RPM header structure: magic, index entries, data store. */
function rpmHeader(entries: Array<{ tag: number; type: number; value: string | number }>): Buffer {
  const index: Buffer[] = [];
  const store: Buffer[] = [];
  let size = 0;
  for (const entry of entries) {
    let data: Buffer;
    if (entry.type === 4) {
      const pad = (4 - (size % 4)) % 4;
      if (pad) {
        store.push(Buffer.alloc(pad));
        size += pad;
      }
      data = Buffer.alloc(4);
      data.writeUInt32BE(entry.value as number);
    } else {
      data = Buffer.from(String(entry.value) + '\0');
    }
    const item = Buffer.alloc(16);
    item.writeUInt32BE(entry.tag, 0);
    item.writeUInt32BE(entry.type, 4);
    item.writeUInt32BE(size, 8);
    item.writeUInt32BE(1, 12);
    index.push(item);
    store.push(data);
    size += data.length;
  }
  const intro = Buffer.alloc(16);
  Buffer.from([0x8e, 0xad, 0xe8, 0x01]).copy(intro, 0);
  intro.writeUInt32BE(entries.length, 8);
  intro.writeUInt32BE(size, 12);
  return Buffer.concat([intro, ...index, ...store]);
}

export function makeRpm(tags: RpmTags, options: { source?: boolean; omit?: number[] } = {}): Buffer {
  const lead = Buffer.alloc(96);
  Buffer.from([0xed, 0xab, 0xee, 0xdb, 3, 0]).copy(lead, 0);
  lead.writeUInt16BE(options.source ? 1 : 0, 6);
  lead.writeUInt16BE(1, 8);
  lead.write(`${tags.name}-${tags.version}-${tags.release}`.slice(0, 65), 10, 'latin1');
  lead.writeUInt16BE(1, 76);
  lead.writeUInt16BE(5, 78);
  // Signature header: one SHA256 string (tag 273), padded to 8 bytes.
  const signature = rpmHeader([{ tag: 273, type: 6, value: 'a'.repeat(64) }]);
  const pad = Buffer.alloc((8 - (signature.length % 8)) % 8);
  const mainEntries: Array<{ tag: number; type: number; value: string | number }> = [
    { tag: 1000, type: 6, value: tags.name },
    { tag: 1001, type: 6, value: tags.version },
    { tag: 1002, type: 6, value: tags.release },
    ...(tags.epoch !== undefined ? [{ tag: 1003, type: 4, value: tags.epoch }] : []),
    { tag: 1004, type: 9, value: 'A test package' },
    { tag: 1022, type: 6, value: tags.arch },
  ].filter((entry) => !options.omit?.includes(entry.tag));
  const main = rpmHeader(mainEntries);
  const payload = gzip('fake cpio payload');
  return Buffer.concat([lead, signature, pad, main, payload]);
}
