/**
 * The `maven` core format: Maven 2 layout paths
 * `group/as/dirs/artifactId/version/artifactId-version[-classifier].ext` (jar, war, ear, aar
 * and pom; a SNAPSHOT folder also takes timestamped files, `a-1.0-20240101.120000-3.jar`).
 *
 * Archives must be readable zip files; a POM must be well-formed XML whose groupId (or the
 * parent's, inherited), artifactId and version (or the parent's) agree with the path.
 * The index is one `maven-metadata.xml` per artifact (with `.sha1` and `.md5` siblings, which
 * Maven clients fetch): versions in Maven's order, latest, release (the highest non-SNAPSHOT).
 */
import crypto from 'node:crypto';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { MANIFEST_CAP, decodeUtf8, formatBytes, readZip, type ArchiveLimits } from './archive.js';

const EXTENSIONS = ['jar', 'war', 'ear', 'aar', 'pom'] as const;
const CONTENT_TYPES: Record<string, string> = {
  jar: 'application/java-archive',
  war: 'application/java-archive',
  ear: 'application/java-archive',
  aar: 'application/zip',
  pom: 'application/xml',
};
const SEGMENT = /^[A-Za-z0-9_.+-]+$/;
const LAYOUT = 'group/as/dirs/artifactId/version/artifactId-version[-classifier].ext';

export interface MavenCoordinates {
  groupId: string;
  artifactId: string;
  /** The version folder (`1.0-SNAPSHOT` for a timestamped snapshot file). */
  version: string;
  classifier: string | null;
  extension: string;
}

export interface MavenOptions extends ArchiveLimits {
  /** The clock of `lastUpdated` (tests pin it). */
  now?: () => Date;
}

export class MavenFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'maven';

  constructor(private readonly options: MavenOptions = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.check(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const coordinates = await this.check(artifactPath, data);
    return {
      path: artifactPath,
      version: coordinates.version,
      contentType: CONTENT_TYPES[coordinates.extension] ?? 'application/octet-stream',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  private async check(artifactPath: string, data: Uint8Array): Promise<MavenCoordinates> {
    const coordinates = mavenCoordinates(artifactPath);
    if (coordinates.extension === 'pom') {
      if (data.byteLength > MANIFEST_CAP) throw new ArtifactInvalid(`the POM is larger than ${formatBytes(MANIFEST_CAP)}`);
      const pom = parsePom(decodeUtf8(data, 'the POM'));
      for (const field of ['groupId', 'artifactId', 'version'] as const) {
        if (pom[field] !== coordinates[field]) {
          throw new ArtifactInvalid(`${field} ${pom[field]} in the POM does not match the path (${coordinates[field]})`);
        }
      }
    } else {
      const contents = await readZip(data, `the ${coordinates.extension}`, () => false, this.options);
      if (contents.paths.length === 0) throw new ArtifactInvalid(`the ${coordinates.extension} has no entries`);
    }
    return coordinates;
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const byArtifact = new Map<string, { groupId: string; artifactId: string; versions: Set<string> }>();
    for (const artifact of artifacts) {
      let coordinates: MavenCoordinates;
      try {
        coordinates = mavenCoordinates(artifact.path);
      } catch {
        continue;
      }
      const key = `${coordinates.groupId}:${coordinates.artifactId}`;
      const entry = byArtifact.get(key) ?? { groupId: coordinates.groupId, artifactId: coordinates.artifactId, versions: new Set<string>() };
      entry.versions.add(coordinates.version);
      byArtifact.set(key, entry);
    }
    const lastUpdated = mavenTimestamp((this.options.now ?? (() => new Date()))());
    const builder = new XMLBuilder({ format: true, indentBy: '  ', ignoreAttributes: true });
    const files: IndexFile[] = [];
    for (const key of [...byArtifact.keys()].sort()) {
      const { groupId, artifactId, versions } = byArtifact.get(key)!;
      const sorted = [...versions].sort(compareMavenVersions);
      const releases = sorted.filter((version) => !version.endsWith('-SNAPSHOT'));
      const versioning: Record<string, unknown> = { latest: sorted.at(-1) };
      if (releases.length > 0) versioning.release = releases.at(-1);
      versioning.versions = { version: sorted };
      versioning.lastUpdated = lastUpdated;
      const xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + builder.build({ metadata: { groupId, artifactId, versioning } });
      const content = new TextEncoder().encode(xml);
      const base = `${groupId.replaceAll('.', '/')}/${artifactId}/maven-metadata.xml`;
      files.push({ path: base, content });
      files.push({ path: `${base}.sha1`, content: new TextEncoder().encode(crypto.createHash('sha1').update(content).digest('hex')) });
      files.push({ path: `${base}.md5`, content: new TextEncoder().encode(crypto.createHash('md5').update(content).digest('hex')) });
    }
    return files;
  }
}

/** The coordinates a Maven layout path stands for; ArtifactInvalid when it is not one. */
export function mavenCoordinates(artifactPath: string): MavenCoordinates {
  const segments = artifactPath.split('/').filter(Boolean);
  const file = segments.at(-1) ?? '';
  if (file === 'maven-metadata.xml' || file.startsWith('maven-metadata.xml.')) {
    throw new ArtifactInvalid('maven-metadata.xml is generated by the repository from its artifacts; it is not uploaded');
  }
  if (segments.length < 4 || segments.some((segment) => !SEGMENT.test(segment) || /^\.+$/.test(segment))) {
    throw new ArtifactInvalid(`the path ${artifactPath} is not a Maven layout path (${LAYOUT})`);
  }
  const version = segments.at(-2)!;
  const artifactId = segments.at(-3)!;
  const groupId = segments.slice(0, -3).join('.');
  const prefixes = [`${artifactId}-${version}`];
  if (version.endsWith('-SNAPSHOT')) {
    const timestamped = new RegExp(`^${escapeRegExp(artifactId)}-${escapeRegExp(version.slice(0, -'SNAPSHOT'.length))}\\d{8}\\.\\d{6}-\\d+`).exec(file);
    if (timestamped) prefixes.push(timestamped[0]);
  }
  for (const prefix of prefixes.sort((a, b) => b.length - a.length)) {
    if (!file.startsWith(prefix)) continue;
    const rest = file.slice(prefix.length);
    const match = /^(?:-([^.]+))?\.(.+)$/.exec(rest);
    if (!match) continue;
    const extension = match[2]!;
    if (!(EXTENSIONS as readonly string[]).includes(extension)) {
      throw new ArtifactInvalid(`.${extension} is not a Maven artifact extension (${EXTENSIONS.join(', ')})`);
    }
    return { groupId, artifactId, version, classifier: match[1] ?? null, extension };
  }
  throw new ArtifactInvalid(`the file name ${file} does not match the path: expected ${artifactId}-${version}[-classifier].ext`);
}

export interface PomCoordinates {
  groupId: string;
  artifactId: string;
  version: string;
}

/** Parses a POM: well-formed XML, a <project> root, coordinates with parent inheritance and ${property} interpolation. */
export function parsePom(xml: string): PomCoordinates {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new ArtifactInvalid(`the POM is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  let document: Record<string, unknown>;
  try {
    document = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, ignoreDeclaration: true, removeNSPrefix: true }).parse(xml);
  } catch (error) {
    throw new ArtifactInvalid(`the POM is not well-formed XML: ${(error as Error).message}`);
  }
  const project = document.project;
  if (typeof project !== 'object' || project === null || Array.isArray(project)) throw new ArtifactInvalid('the POM has no <project> root element');
  const p = project as Record<string, unknown>;
  const parent = typeof p.parent === 'object' && p.parent !== null && !Array.isArray(p.parent) ? (p.parent as Record<string, unknown>) : {};
  const properties = typeof p.properties === 'object' && p.properties !== null ? (p.properties as Record<string, unknown>) : {};
  const text = (value: unknown, element: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new ArtifactInvalid(`<${element}> in the POM must be text`);
    return value;
  };
  const artifactId = text(p.artifactId, 'artifactId');
  if (!artifactId) throw new ArtifactInvalid('the POM has no <artifactId>');
  const groupId = text(p.groupId, 'groupId') ?? text(parent.groupId, 'parent><groupId');
  if (!groupId) throw new ArtifactInvalid('the POM has no <groupId> and no <parent><groupId> to inherit');
  const version = text(p.version, 'version') ?? text(parent.version, 'parent><version');
  if (!version) throw new ArtifactInvalid('the POM has no <version> and no <parent><version> to inherit');
  const known: Record<string, string | undefined> = {
    'project.groupId': groupId,
    'project.artifactId': artifactId,
    'project.parent.groupId': text(parent.groupId, 'parent><groupId'),
    'project.parent.version': text(parent.version, 'parent><version'),
  };
  const interpolate = (value: string): string =>
    value.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (known[name] !== undefined) return known[name]!;
      const property = properties[name];
      return typeof property === 'string' && !property.includes('${') ? property : whole;
    });
  const resolvedVersion = interpolate(version);
  known['project.version'] = resolvedVersion;
  return { groupId: interpolate(groupId), artifactId: interpolate(artifactId), version: interpolate(resolvedVersion) };
}

/** `yyyyMMddHHmmss` in UTC, maven-metadata.xml's lastUpdated. */
export function mavenTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

const QUALIFIERS: Record<string, number> = { alpha: 0, a: 0, beta: 1, b: 1, milestone: 2, m: 2, rc: 3, cr: 3, snapshot: 4, '': 5, ga: 5, final: 5, release: 5, sp: 6 };

type Item = bigint | string;

function tokens(version: string): Item[] {
  const items: Item[] = [];
  for (const part of version.toLowerCase().split(/[.-]/)) {
    for (const piece of part.match(/\d+|[^\d]+/g) ?? ['']) items.push(/^\d+$/.test(piece) ? BigInt(piece) : piece);
  }
  return items;
}

function qualifierRank(item: string): [number, string] {
  return item in QUALIFIERS ? [QUALIFIERS[item]!, ''] : [7, item];
}

function compareItems(a: Item | undefined, b: Item | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -compareItems(b, a);
  if (typeof a === 'bigint') {
    if (b === undefined) return a === 0n ? 0 : 1;
    if (typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
    return 1; // a number is above any qualifier
  }
  if (typeof b === 'bigint') return -1;
  const [rankA, textA] = qualifierRank(a);
  const [rankB, textB] = qualifierRank(b ?? '');
  if (rankA !== rankB) return rankA - rankB;
  return textA < textB ? -1 : textA > textB ? 1 : 0;
}

/** Maven's version order (ComparableVersion, simplified): 1.0-alpha < 1.0-rc1 < 1.0-SNAPSHOT < 1.0 < 1.0-sp < 1.0.1 < 1.10. */
export function compareMavenVersions(a: string, b: string): number {
  const left = tokens(a);
  const right = tokens(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const order = compareItems(left[i], right[i]);
    if (order !== 0) return order;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
