/**
 * The `helm` core format: packaged charts (`helm package` output, a gzip tar with
 * `<chart>/Chart.yaml`) named `<chart>-<version>.tgz`; Chart.yaml needs apiVersion (v1 or
 * v2), name (the chart folder's) and a SemVer 2 version, agreeing with the file name.
 *
 * The index is `index.yaml`: apiVersion v1, entries per chart, newest version first (semver),
 * each with name, version, urls (the artifact path) and digest when the checksum is known;
 * `generated` is the time of generation. Provenance files (`.prov`) are not handled yet.
 */
import semver from 'semver';
import YAML from 'yaml';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata, IndexFile } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';
import { baseName, decodeUtf8, readTarGz, type ArchiveLimits } from './archive.js';

const CHART_YAML = /^([^/]+)\/Chart\.yaml$/;

export interface HelmOptions extends ArchiveLimits {
  /** The clock of `generated` (tests pin it). */
  now?: () => Date;
}

export class HelmFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'helm';

  constructor(private readonly options: HelmOptions = {}) {
    super({ generatesIndex: true });
  }

  protected async validateBytes(artifactPath: string, data: Uint8Array): Promise<void> {
    await this.read(artifactPath, data);
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    const chart = await this.read(artifactPath, data);
    return { path: artifactPath, version: chart.version, contentType: 'application/gzip', sizeBytes: data.byteLength, checksumSha256: null };
  }

  async read(artifactPath: string, data: Uint8Array): Promise<{ name: string; version: string; apiVersion: string }> {
    const file = baseName(artifactPath);
    if (file.endsWith('.prov')) throw new ArtifactInvalid('chart provenance files (.prov) are not supported by the helm core format');
    if (!file.endsWith('.tgz') || file === '.tgz') throw new ArtifactInvalid(`a Helm chart must be a .tgz file, not ${file || 'an empty name'}`);
    const contents = await readTarGz(data, 'the chart archive', (member) => CHART_YAML.test(member), this.options);
    const found = [...contents.members.keys()];
    if (found.length === 0) throw new ArtifactInvalid('the chart archive has no <chart>/Chart.yaml');
    if (found.length > 1) throw new ArtifactInvalid(`the chart archive has more than one chart: ${found.join(', ')}`);
    const member = found[0]!;
    const folder = CHART_YAML.exec(member)![1]!;
    const chart = parseChartYaml(decodeUtf8(contents.members.get(member)!, member), member);
    if (chart.name !== folder) throw new ArtifactInvalid(`name ${chart.name} in ${member} does not match its folder (${folder})`);
    if (file !== `${chart.name}-${chart.version}.tgz`) {
      throw new ArtifactInvalid(`the file name ${file} does not match ${chart.name} ${chart.version} of Chart.yaml: expected ${chart.name}-${chart.version}.tgz`);
    }
    return chart;
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[]> {
    const charts = new Map<string, ArtifactMetadata[]>();
    for (const artifact of artifacts) {
      const file = baseName(artifact.path);
      const version = artifact.version;
      if (!version || semver.valid(version) !== version || !file.endsWith(`-${version}.tgz`)) continue;
      const name = file.slice(0, -`-${version}.tgz`.length);
      if (!name) continue;
      charts.set(name, [...(charts.get(name) ?? []), artifact]);
    }
    const entries: Record<string, unknown[]> = {};
    for (const name of [...charts.keys()].sort()) {
      entries[name] = charts
        .get(name)!
        .sort((a, b) => semver.rcompare(a.version!, b.version!))
        .map((artifact) => {
          const entry: Record<string, unknown> = { name, version: artifact.version, urls: [artifact.path] };
          if (artifact.checksumSha256) entry.digest = artifact.checksumSha256.toLowerCase();
          return entry;
        });
    }
    const generated = (this.options.now ?? (() => new Date()))().toISOString();
    const content = YAML.stringify({ apiVersion: 'v1', entries, generated });
    return [{ path: 'index.yaml', content: new TextEncoder().encode(content) }];
  }
}

/** Parses Chart.yaml text: a mapping with apiVersion v1/v2, a name and a SemVer 2 version. */
export function parseChartYaml(text: string, what = 'Chart.yaml'): { name: string; version: string; apiVersion: string } {
  let chart: unknown;
  try {
    const document = YAML.parseDocument(text, { uniqueKeys: true });
    if (document.errors.length > 0) throw document.errors[0];
    chart = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ArtifactInvalid(`${what} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof chart !== 'object' || chart === null || Array.isArray(chart)) throw new ArtifactInvalid(`${what} is not a YAML mapping`);
  const { apiVersion, name, version } = chart as Record<string, unknown>;
  if (apiVersion === undefined) throw new ArtifactInvalid(`${what} has no apiVersion`);
  if (apiVersion !== 'v1' && apiVersion !== 'v2') throw new ArtifactInvalid(`apiVersion ${String(apiVersion)} in ${what} is not v1 or v2`);
  if (name === undefined) throw new ArtifactInvalid(`${what} has no name`);
  if (typeof name !== 'string' || name === '') throw new ArtifactInvalid(`name in ${what} must be a non-empty string`);
  if (version === undefined) throw new ArtifactInvalid(`${what} has no version`);
  if (typeof version !== 'string' || semver.valid(version) !== version) {
    throw new ArtifactInvalid(`version ${String(version)} in ${what} is not a valid SemVer 2 version`);
  }
  return { name, version, apiVersion };
}
