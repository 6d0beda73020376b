import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import zlib from 'node:zlib';
import { OciFormatHandler } from '../../../supervisor/formats/core/oci.js';
import { coreFormatHandlers } from '../../../supervisor/formats/core/index.js';
import { expectInvalid, tarGz, text } from './artifacts.js';
import { sha256 } from './packages.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

type Json = Record<string, unknown>;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const digestOf = (data: Uint8Array): string => `sha256:${sha256(data)}`;
const descriptor = (mediaType: string, data: Uint8Array, extra: Json = {}): Json => ({ mediaType, digest: digestOf(data), size: data.byteLength, ...extra });

/** A real single-layer image: a gzip tar layer, its config (naming the layer's diff id) and the manifests pointing at them. */
async function image() {
  const layer = await tarGz({ 'etc/hello.txt': 'hello\n', 'usr/bin/hello': '#!/bin/sh\necho hello\n' });
  const config = json({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/usr/bin/hello'] },
    rootfs: { type: 'layers', diff_ids: [digestOf(zlib.gunzipSync(layer))] },
  });
  const manifestFields: Json = {
    schemaVersion: 2,
    config: descriptor('application/vnd.oci.image.config.v1+json', config),
    layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
  };
  const manifest = json({ mediaType: OCI_MANIFEST, ...manifestFields });
  const index = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [descriptor(OCI_MANIFEST, manifest, { platform: { architecture: 'amd64', os: 'linux' } })],
  });
  const dockerManifest = json({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: descriptor('application/vnd.docker.container.image.v1+json', config),
    layers: [descriptor('application/vnd.docker.image.rootfs.diff.tar.gzip', layer)],
  });
  const dockerList = json({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [descriptor(DOCKER_MANIFEST, dockerManifest, { platform: { architecture: 'amd64', os: 'linux' } })] });
  return { layer, config, manifestFields, manifest, index, dockerManifest, dockerList };
}

const meta = (path: string) => ({ path, version: null, contentType: 'application/octet-stream', sizeBytes: 1, checksumSha256: null });

describe('core format: oci', () => {
  const handler = withBytes(new OciFormatHandler());

  it('declares itself a core handler with an index, registered under oci', () => {
    expect(handler.formatKey).to.equal('oci');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
    expect(coreFormatHandlers().get('oci')).to.be.instanceOf(OciFormatHandler);
  });

  it('accepts blobs under their digest and manifests under a tag or their digest, with the right metadata', async () => {
    const { layer, config, manifestFields, manifest, index, dockerManifest, dockerList } = await image();
    const layerPath = `library/hello/blobs/${digestOf(layer)}`;
    expect(await handler.parseMetadata(layerPath, layer)).to.deep.equal({
      path: layerPath, version: null, contentType: 'application/octet-stream', sizeBytes: layer.byteLength, checksumSha256: null,
    });
    expect(await handler.parseMetadata(`library/hello/blobs/${digestOf(config)}`, config)).to.include({ version: null, contentType: 'application/octet-stream' });
    expect(await handler.parseMetadata('library/hello/manifests/1.0', manifest)).to.deep.equal({
      path: 'library/hello/manifests/1.0', version: '1.0', contentType: OCI_MANIFEST, sizeBytes: manifest.byteLength, checksumSha256: null,
    });
    expect(await handler.parseMetadata(`library/hello/manifests/${digestOf(manifest)}`, manifest)).to.include({ version: null, contentType: OCI_MANIFEST });
    expect(await handler.parseMetadata('library/hello/manifests/latest', index)).to.include({ version: 'latest', contentType: OCI_INDEX });
    expect(await handler.parseMetadata('library/hello/manifests/docker', dockerManifest)).to.include({ version: 'docker', contentType: DOCKER_MANIFEST });
    expect(await handler.parseMetadata(`library/hello/manifests/${digestOf(dockerList)}`, dockerList)).to.include({ version: null, contentType: DOCKER_LIST });
    // Without a mediaType, the kind is told by the fields.
    expect(await handler.parseMetadata('hello/manifests/bare', json(manifestFields))).to.include({ contentType: OCI_MANIFEST });
    expect(await handler.parseMetadata('hello/manifests/bare-index', json({ schemaVersion: 2, manifests: [] }))).to.include({ contentType: OCI_INDEX });
    // Every separator of the name grammar, a name component called "blobs", the longest tag.
    await handler.validate('my-org/sub.team/app__x/a_b--c/manifests/v1.2.3-rc_1', manifest);
    await handler.validate('team/blobs/manifests/latest', manifest);
    await handler.validate(`/library/hello/manifests/_${'x'.repeat(127)}`, manifest);
  });

  it('rejects malformed paths, names, tags and digests with precise messages', async () => {
    const { manifest, layer } = await image();
    const shape = (path: string) => `an OCI artifact path must be <name>/manifests/<reference> or <name>/blobs/<digest>: ${path}`;
    await expectInvalid(handler.validate('library/hello/tags/latest', manifest), shape('library/hello/tags/latest'));
    await expectInvalid(handler.validate('manifests/latest', manifest), shape('manifests/latest'));
    await expectInvalid(handler.validate('library/hello/manifests', manifest), shape('library/hello/manifests'));
    await expectInvalid(handler.validate('library//hello/manifests/latest', manifest), 'the OCI path library//hello/manifests/latest has an empty segment');
    await expectInvalid(handler.validate('library/hello/manifests/latest/', manifest), 'the OCI path library/hello/manifests/latest/ has an empty segment');
    await expectInvalid(handler.validate('library/../manifests/latest', manifest), 'the OCI path library/../manifests/latest has a ".." segment');
    await expectInvalid(handler.validate('./hello/manifests/latest', manifest), 'the OCI path ./hello/manifests/latest has a "." segment');
    const nameRule = 'components of lowercase letters and digits, separated inside by ".", "_", "__" or dashes, joined by "/"';
    await expectInvalid(handler.validate('Library/hello/manifests/latest', manifest), `invalid repository name Library/hello: ${nameRule}`);
    await expectInvalid(handler.validate('library/hello-/manifests/latest', manifest), `invalid repository name library/hello-: ${nameRule}`);
    await expectInvalid(handler.validate('library/hel___lo/manifests/latest', manifest), `invalid repository name library/hel___lo: ${nameRule}`);
    await expectInvalid(handler.validate('library/.hello/manifests/latest', manifest), `invalid repository name library/.hello: ${nameRule}`);
    const tagRule = 'a tag is 1 to 128 letters, digits, _ . -, not starting with . or -';
    await expectInvalid(handler.validate('library/hello/manifests/-latest', manifest), `invalid tag -latest: ${tagRule}`);
    await expectInvalid(handler.validate('library/hello/manifests/.latest', manifest), `invalid tag .latest: ${tagRule}`);
    await expectInvalid(handler.validate('library/hello/manifests/v1+build', manifest), `invalid tag v1+build: ${tagRule}`);
    await expectInvalid(handler.validate(`library/hello/manifests/${'x'.repeat(129)}`, manifest), `invalid tag ${'x'.repeat(129)}: ${tagRule}`);
    const digestRule = 'is not a sha256 digest (sha256: and 64 lowercase hex digits)';
    await expectInvalid(handler.validate('library/hello/blobs/latest', layer), `the blob digest latest ${digestRule}`);
    await expectInvalid(handler.validate(`library/hello/blobs/sha512:${'a'.repeat(128)}`, layer), `the blob digest sha512:${'a'.repeat(128)} ${digestRule}`);
    const upper = digestOf(layer).toUpperCase().replace('SHA256', 'sha256');
    await expectInvalid(handler.validate(`library/hello/blobs/${upper}`, layer), `the blob digest ${upper} ${digestRule}`);
    await expectInvalid(handler.validate('library/hello/manifests/sha256:abc', manifest), `the manifest digest sha256:abc ${digestRule}`);
  });

  it('rejects content that does not hash to the digest in its path, naming both digests', async () => {
    const { layer, config, manifest, index } = await image();
    await expectInvalid(handler.validate(`library/hello/blobs/${digestOf(config)}`, layer),
      `the blob's content has digest ${digestOf(layer)}, not ${digestOf(config)} as its path says`);
    await expectInvalid(handler.validate(`library/hello/manifests/${digestOf(manifest)}`, index),
      `the manifest's content has digest ${digestOf(index)}, not ${digestOf(manifest)} as its path says`);
  });

  it('rejects manifests that are not schema 2 JSON of a known kind with its fields, with precise messages', async () => {
    const { manifestFields, manifest } = await image();
    const at = 'library/hello/manifests/1.0';
    const image2 = (changes: Json) => json({ mediaType: OCI_MANIFEST, ...manifestFields, ...changes });
    await expectInvalid(handler.validate(at, Buffer.from('{"schemaVersion": 2')), /^the manifest is not valid JSON: /);
    await expectInvalid(handler.validate(at, new Uint8Array([0x7b, 0xff, 0x7d])), 'the manifest is not valid UTF-8');
    await expectInvalid(handler.validate(at, json([manifestFields])), 'the manifest must be a JSON object');
    await expectInvalid(handler.validate(at, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)), 'the manifest is 4194305 bytes, more than the 4 MiB allowed');
    await expectInvalid(handler.validate(at, image2({ schemaVersion: undefined })), 'the manifest has no schemaVersion');
    await expectInvalid(handler.validate(at, image2({ schemaVersion: 1 })), "the manifest's schemaVersion is 1, not 2");
    await expectInvalid(handler.validate(at, image2({ schemaVersion: '2' })), 'the manifest\'s schemaVersion is "2", not 2');
    await expectInvalid(handler.validate(at, image2({ mediaType: 'application/vnd.oci.artifact.manifest.v1+json' })),
      `unsupported manifest mediaType "application/vnd.oci.artifact.manifest.v1+json": expected one of ${OCI_MANIFEST}, ${OCI_INDEX}, ${DOCKER_MANIFEST}, ${DOCKER_LIST}`);
    await expectInvalid(handler.validate(at, image2({ mediaType: 'toString' })), /^unsupported manifest mediaType "toString": /);
    await expectInvalid(handler.validate(at, json({ schemaVersion: 2 })),
      'the manifest has no mediaType, and its fields do not tell an image manifest (config, layers) from an index (manifests)');
    await expectInvalid(handler.validate(at, json({ ...manifestFields, manifests: [] })),
      'the manifest has no mediaType, and its fields do not tell an image manifest (config, layers) from an index (manifests)');
    await expectInvalid(handler.validate(at, image2({ layers: undefined })), `the manifest (${OCI_MANIFEST}) has no layers array`);
    await expectInvalid(handler.validate(at, image2({ layers: {} })), `the manifest (${OCI_MANIFEST}) has no layers array`);
    await expectInvalid(handler.validate(at, image2({ config: undefined })), `the manifest (${OCI_MANIFEST}) has no config descriptor`);
    await expectInvalid(handler.validate(at, image2({ manifests: [] })), `the manifest (${OCI_MANIFEST}) has "manifests", a field of an index`);
    await expectInvalid(handler.validate(at, json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: manifestFields.config })),
      `the manifest (${DOCKER_MANIFEST}) has no layers array`);
    await expectInvalid(handler.validate(at, json({ schemaVersion: 2, mediaType: OCI_INDEX })), `the manifest (${OCI_INDEX}) has no manifests array`);
    await expectInvalid(handler.validate(at, json({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [], layers: [] })),
      `the manifest (${DOCKER_LIST}) has "config" or "layers", fields of an image manifest`);
    // The same bytes are fine under a tag: only a digest reference pins the content.
    await handler.validate(at, manifest);
  });

  it('rejects malformed descriptors with precise messages', async () => {
    const { manifestFields, manifest } = await image();
    const at = 'library/hello/manifests/1.0';
    const layer = (manifestFields.layers as Json[])[0]!;
    const withLayer = (changes: Json) => json({ mediaType: OCI_MANIFEST, ...manifestFields, layers: [layer, { ...layer, ...changes }] });
    await expectInvalid(handler.validate(at, json({ ...manifestFields, layers: ['sha256:abc'] })), "the manifest's layers[0] is not a descriptor object");
    await expectInvalid(handler.validate(at, withLayer({ mediaType: undefined })), "the manifest's layers[1] has no mediaType");
    await expectInvalid(handler.validate(at, withLayer({ mediaType: 'tar+gzip' })), 'the manifest\'s layers[1].mediaType "tar+gzip" is not a media type (type/subtype)');
    await expectInvalid(handler.validate(at, withLayer({ mediaType: 7 })), "the manifest's layers[1].mediaType 7 is not a media type (type/subtype)");
    await expectInvalid(handler.validate(at, withLayer({ digest: undefined })), "the manifest's layers[1] has no digest");
    await expectInvalid(handler.validate(at, withLayer({ digest: `sha256:${'ab'.repeat(31)}` })),
      `the manifest's layers[1].digest sha256:${'ab'.repeat(31)} is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
    await expectInvalid(handler.validate(at, withLayer({ digest: `sha512:${'ab'.repeat(64)}` })),
      `the manifest's layers[1].digest sha512:${'ab'.repeat(64)} is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
    await expectInvalid(handler.validate(at, withLayer({ size: undefined })), "the manifest's layers[1] has no size");
    await expectInvalid(handler.validate(at, withLayer({ size: -1 })), "the manifest's layers[1].size -1 is not a non-negative integer");
    await expectInvalid(handler.validate(at, withLayer({ size: 1.5 })), "the manifest's layers[1].size 1.5 is not a non-negative integer");
    await expectInvalid(handler.validate(at, withLayer({ size: '12' })), 'the manifest\'s layers[1].size "12" is not a non-negative integer');
    await expectInvalid(handler.validate(at, json({ mediaType: OCI_MANIFEST, ...manifestFields, config: { ...(manifestFields.config as Json), digest: 'md5:x' } })),
      "the manifest's config.digest md5:x is not a sha256 digest (sha256: and 64 lowercase hex digits)");
    await expectInvalid(handler.validate(at, json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptor(OCI_MANIFEST, manifest, { size: null })] })),
      "the manifest's manifests[0].size null is not a non-negative integer");
  });

  it('generates <name>/tags/list per repository, tags in code-unit order', async () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const index = await handler.generateIndex([
      meta('library/hello/manifests/v1.10'),
      meta('library/hello/manifests/latest'),
      meta('library/hello/manifests/Latest'),
      meta('library/hello/manifests/v1.9'),
      meta(`library/hello/manifests/${digest}`),
      meta(`library/hello/blobs/${digest}`),
      meta(`tools/only-blobs/blobs/${digest}`),
      meta('alpine/manifests/3.19'),
      meta('alpine/manifests/3.19'),
      meta('Not/A/Valid/manifests/latest'),
      meta('alpine/tags/list'),
    ]);
    expect(index.map((file) => file.path)).to.deep.equal(['alpine/tags/list', 'library/hello/tags/list', 'tools/only-blobs/tags/list']);
    expect(text(index[0]!.content)).to.equal('{"name":"alpine","tags":["3.19"]}');
    expect(JSON.parse(text(index[1]!.content))).to.deep.equal({ name: 'library/hello', tags: ['Latest', 'latest', 'v1.10', 'v1.9'] });
    expect(JSON.parse(text(index[2]!.content))).to.deep.equal({ name: 'tools/only-blobs', tags: [] });
    expect(await handler.generateIndex([])).to.deep.equal([]);
  });
});
