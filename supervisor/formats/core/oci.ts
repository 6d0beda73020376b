/**
 * The `oci` core format: a registry's content named as the OCI distribution spec names it, each
 * repository (image name) a path prefix:
 *
 * - `<name>/manifests/<reference>`: a manifest, stored under a tag or under its own digest;
 * - `<name>/blobs/<digest>`: a blob (an image config, a layer, anything a manifest points to).
 *
 * `<name>` follows the spec's regex, a tag `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. Digests are
 * sha256 only (`sha256:` and 64 lowercase hex digits): the spec makes sha512 optional and
 * registries and clients use sha256.
 *
 * A blob must hash to the digest in its path. A manifest is at most 4 MiB (what the spec asks
 * registries to accept), JSON with `schemaVersion: 2` (1 is Docker's retired signed format),
 * of one of four media types (`mediaType`, or when absent told by its fields): OCI image
 * manifest and Docker v2 manifest need a `config` descriptor and a `layers` array, OCI index and
 * Docker manifest list a `manifests` array; every descriptor has a media type, a sha256 digest
 * and a non-negative integer size. A manifest carrying the fields of the other kind is refused:
 * it would read differently to clients that go by the fields and those that go by the media
 * type (CVE-2021-41190). Under a digest, a manifest must hash to it. Whether the blobs a
 * manifest points to are there is not checked: each artifact is validated alone, and a push
 * may send them in any order.
 *
 * Index: per repository, `<name>/tags/list`, what GET /v2/<name>/tags/list answers:
 * `{"name": <name>, "tags": [...]}`, the tags in code-unit order (Go's sort.Strings, one of
 * the two orders the spec allows), empty for a repository with no tagged manifest. It cannot
 * collide with an artifact, whose second-to-last path segment is `manifests` or `blobs`.
 */
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MiB, decodeUtf8, formatBytes } from './archive.js';
import { sha256Hex } from '../../sha256.js';

const MANIFEST_CAP = 4 * MiB;
const NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** RFC 6838 type/subtype, the pattern of the image spec's JSON schema. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MANIFEST_KINDS = new Map<string, 'image' | 'index'>([
  [OCI_IMAGE_MANIFEST, 'image'],
  [OCI_IMAGE_INDEX, 'index'],
  [DOCKER_MANIFEST, 'image'],
  [DOCKER_MANIFEST_LIST, 'index'],
]);

export interface OciArtifactPath {
  name: string;
  kind: 'manifest' | 'blob';
  /** The tag a manifest is stored under, `null` under a digest. */
  tag: string | null;
  /** The digest in the path, `null` for a manifest under a tag. */
  digest: string | null;
}

export class OciFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'oci';

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    this.check(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const { parsed, mediaType } = this.check(artifactPath, data);
    return { path: artifactPath, version: parsed.tag, contentType: mediaType ?? 'application/octet-stream', sizeBytes: data.byteLength, checksumSha256: null };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const tagsByName = new Map<string, Set<string>>();
    for (const artifact of artifacts) {
      let parsed: OciArtifactPath;
      try {
        parsed = parseOciPath(artifact.path);
      } catch {
        continue;
      }
      if (!tagsByName.has(parsed.name)) tagsByName.set(parsed.name, new Set());
      if (parsed.tag !== null) tagsByName.get(parsed.name)!.add(parsed.tag);
    }
    return [...tagsByName.keys()].sort().map((name) => ({
      path: `${name}/tags/list`,
      content: new TextEncoder().encode(JSON.stringify({ name, tags: [...tagsByName.get(name)!].sort() })),
    }));
  }

  /** The parsed path and, for a manifest, its media type. */
  private check(artifactPath: string, data: Uint8Array): { parsed: OciArtifactPath; mediaType: string | null } {
    const parsed = parseOciPath(artifactPath);
    if (parsed.kind === 'blob') {
      checkContentDigest(data, parsed.digest!, 'blob');
      return { parsed, mediaType: null };
    }
    return { parsed, mediaType: checkManifest(data, parsed.digest) };
  }
}

/** Splits and validates `<name>/manifests/<tag or digest>` and `<name>/blobs/<digest>`. */
export function parseOciPath(artifactPath: string): OciArtifactPath {
  const segments = artifactPath.replace(/^\/+/, '').split('/');
  const bad = segments.find((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad !== undefined) throw new ArtifactInvalid(`the OCI path ${artifactPath} has ${bad === '' ? 'an empty' : `a "${bad}"`} segment`);
  const folder = segments.at(-2);
  if (segments.length < 3 || (folder !== 'manifests' && folder !== 'blobs')) {
    throw new ArtifactInvalid(`an OCI artifact path must be <name>/manifests/<reference> or <name>/blobs/<digest>: ${artifactPath}`);
  }
  const name = segments.slice(0, -2).join('/');
  if (!NAME.test(name)) {
    throw new ArtifactInvalid(`invalid repository name ${name}: components of lowercase letters and digits, separated inside by ".", "_", "__" or dashes, joined by "/"`);
  }
  const reference = segments.at(-1)!;
  if (folder === 'blobs') {
    checkDigest(reference, 'the blob digest');
    return { name, kind: 'blob', tag: null, digest: reference };
  }
  // A tag cannot hold ":", so a reference with one is meant as a digest.
  if (reference.includes(':')) {
    checkDigest(reference, 'the manifest digest');
    return { name, kind: 'manifest', tag: null, digest: reference };
  }
  if (!TAG.test(reference)) throw new ArtifactInvalid(`invalid tag ${reference}: a tag is 1 to 128 letters, digits, _ . -, not starting with . or -`);
  return { name, kind: 'manifest', tag: reference, digest: null };
}

function checkDigest(digest: string, what: string): void {
  if (!SHA256_DIGEST.test(digest)) throw new ArtifactInvalid(`${what} ${digest} is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
}

function checkContentDigest(data: Uint8Array, expected: string, what: 'blob' | 'manifest'): void {
  const actual = `sha256:${sha256Hex(data)}`;
  if (actual !== expected) throw new ArtifactInvalid(`the ${what}'s content has digest ${actual}, not ${expected} as its path says`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a manifest (against `digest` when stored under one); returns its media type. */
function checkManifest(data: Uint8Array, digest: string | null): string {
  if (data.byteLength > MANIFEST_CAP) throw new ArtifactInvalid(`the manifest is ${data.byteLength} bytes, more than the ${formatBytes(MANIFEST_CAP)} allowed`);
  if (digest !== null) checkContentDigest(data, digest, 'manifest');
  let manifest: unknown;
  try {
    manifest = JSON.parse(decodeUtf8(data, 'the manifest'));
  } catch (error) {
    if (error instanceof ArtifactInvalid) throw error;
    throw new ArtifactInvalid(`the manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(manifest)) throw new ArtifactInvalid('the manifest must be a JSON object');
  if (manifest.schemaVersion === undefined) throw new ArtifactInvalid('the manifest has no schemaVersion');
  if (manifest.schemaVersion !== 2) throw new ArtifactInvalid(`the manifest's schemaVersion is ${JSON.stringify(manifest.schemaVersion)}, not 2`);
  const mediaType = manifestMediaType(manifest);
  if (MANIFEST_KINDS.get(mediaType) === 'image') {
    if (manifest.manifests !== undefined) throw new ArtifactInvalid(`the manifest (${mediaType}) has "manifests", a field of an index`);
    if (manifest.config === undefined) throw new ArtifactInvalid(`the manifest (${mediaType}) has no config descriptor`);
    checkDescriptor(manifest.config, 'config');
    checkDescriptors(manifest, 'layers', mediaType);
  } else {
    if (manifest.config !== undefined || manifest.layers !== undefined) {
      throw new ArtifactInvalid(`the manifest (${mediaType}) has "config" or "layers", fields of an image manifest`);
    }
    checkDescriptors(manifest, 'manifests', mediaType);
  }
  return mediaType;
}

/** The declared media type, or the one its fields show when it declares none (allowed by the image spec). */
function manifestMediaType(manifest: Record<string, unknown>): string {
  const declared = manifest.mediaType;
  if (declared !== undefined) {
    if (typeof declared !== 'string' || !MANIFEST_KINDS.has(declared)) {
      throw new ArtifactInvalid(`unsupported manifest mediaType ${JSON.stringify(declared)}: expected one of ${[...MANIFEST_KINDS.keys()].join(', ')}`);
    }
    return declared;
  }
  const image = manifest.config !== undefined || manifest.layers !== undefined;
  const index = manifest.manifests !== undefined;
  if (image === index) {
    throw new ArtifactInvalid('the manifest has no mediaType, and its fields do not tell an image manifest (config, layers) from an index (manifests)');
  }
  return image ? OCI_IMAGE_MANIFEST : OCI_IMAGE_INDEX;
}

function checkDescriptors(manifest: Record<string, unknown>, field: 'layers' | 'manifests', mediaType: string): void {
  const list = manifest[field];
  if (!Array.isArray(list)) throw new ArtifactInvalid(`the manifest (${mediaType}) has no ${field} array`);
  list.forEach((descriptor, index) => checkDescriptor(descriptor, `${field}[${index}]`));
}

function checkDescriptor(descriptor: unknown, where: string): void {
  if (!isObject(descriptor)) throw new ArtifactInvalid(`the manifest's ${where} is not a descriptor object`);
  const { mediaType, digest, size } = descriptor;
  if (mediaType === undefined) throw new ArtifactInvalid(`the manifest's ${where} has no mediaType`);
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) {
    throw new ArtifactInvalid(`the manifest's ${where}.mediaType ${JSON.stringify(mediaType)} is not a media type (type/subtype)`);
  }
  if (digest === undefined) throw new ArtifactInvalid(`the manifest's ${where} has no digest`);
  checkDigest(typeof digest === 'string' ? digest : JSON.stringify(digest), `the manifest's ${where}.digest`);
  if (size === undefined) throw new ArtifactInvalid(`the manifest's ${where} has no size`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ArtifactInvalid(`the manifest's ${where}.size ${JSON.stringify(size)} is not a non-negative integer`);
  }
}
