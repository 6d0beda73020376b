import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import YAML from 'yaml';
import { HelmFormatHandler } from '../../../supervisor/formats/core/helm.js';
import { expectInvalid, tarGz, text } from './artifacts.js';

const chartYaml = (name: string, version: string, apiVersion = 'v2'): string =>
  `apiVersion: ${apiVersion}\nname: ${name}\nversion: ${version}\ndescription: A chart\ntype: application\n`;
const chart = (folder: string, yaml: string): Promise<Buffer> =>
  tarGz({ [`${folder}/Chart.yaml`]: yaml, [`${folder}/values.yaml`]: 'replicas: 1\n', [`${folder}/charts/sub/Chart.yaml`]: chartYaml('sub', '0.1.0') });
const meta = (path: string, version: string, checksumSha256: string | null = null) => ({ path, version, contentType: 'application/gzip', sizeBytes: 1, checksumSha256 });

describe('core format: helm', () => {
  const handler = withBytes(new HelmFormatHandler({ now: () => new Date('2024-03-05T06:07:08Z') }));

  it('accepts a packaged chart whose Chart.yaml agrees with the file name', async () => {
    const data = await chart('nginx', chartYaml('nginx', '1.2.3'));
    await handler.validate('charts/nginx-1.2.3.tgz', data);
    expect(await handler.parseMetadata('nginx-1.2.3.tgz', data)).to.deep.equal({
      path: 'nginx-1.2.3.tgz', version: '1.2.3', contentType: 'application/gzip', sizeBytes: data.byteLength, checksumSha256: null,
    });
  });

  it('rejects damaged or mismatched charts with a precise message', async () => {
    const at = 'nginx-1.2.3.tgz';
    await expectInvalid(handler.validate(at, Buffer.from('nope')), 'the chart archive is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b)');
    await expectInvalid(handler.validate('nginx-1.2.3.tgz.prov', Buffer.from('x')), 'chart provenance files (.prov) are not supported by the helm core format');
    await expectInvalid(handler.validate('nginx-1.2.3.zip', Buffer.from('x')), 'a Helm chart must be a .tgz file, not nginx-1.2.3.zip');
    await expectInvalid(handler.validate(at, await tarGz({ 'nginx/values.yaml': '' })), 'the chart archive has no <chart>/Chart.yaml');
    await expectInvalid(handler.validate(at, await chart('nginx', 'name: [unclosed\n')), /^nginx\/Chart\.yaml is not valid YAML: /);
    await expectInvalid(handler.validate(at, await chart('nginx', '- a\n- b\n')), 'nginx/Chart.yaml is not a YAML mapping');
    await expectInvalid(handler.validate(at, await chart('nginx', 'name: nginx\nversion: 1.2.3\n')), 'nginx/Chart.yaml has no apiVersion');
    await expectInvalid(handler.validate(at, await chart('nginx', chartYaml('nginx', '1.2.3', 'v3'))), 'apiVersion v3 in nginx/Chart.yaml is not v1 or v2');
    await expectInvalid(handler.validate(at, await chart('nginx', 'apiVersion: v2\nversion: 1.2.3\n')), 'nginx/Chart.yaml has no name');
    await expectInvalid(handler.validate(at, await chart('nginx', 'apiVersion: v2\nname: nginx\n')), 'nginx/Chart.yaml has no version');
    await expectInvalid(handler.validate('nginx-1.2.tgz', await chart('nginx', chartYaml('nginx', '1.2'))), 'version 1.2 in nginx/Chart.yaml is not a valid SemVer 2 version');
    await expectInvalid(handler.validate(at, await chart('nginx', chartYaml('apache', '1.2.3'))), 'name apache in nginx/Chart.yaml does not match its folder (nginx)');
    await expectInvalid(handler.validate(at, await chart('nginx', chartYaml('nginx', '1.2.4'))),
      'the file name nginx-1.2.3.tgz does not match nginx 1.2.4 of Chart.yaml: expected nginx-1.2.4.tgz');
  });

  it('generates index.yaml with entries newest first by semver and digests', async () => {
    const sha = '12'.repeat(32);
    const [file, ...rest] = await handler.generateIndex([
      meta('charts/nginx-1.9.0.tgz', '1.9.0'),
      meta('charts/nginx-1.10.0.tgz', '1.10.0', sha),
      meta('charts/nginx-1.10.0-rc.1.tgz', '1.10.0-rc.1'),
      meta('charts/redis-0.1.0.tgz', '0.1.0'),
    ]);
    expect(rest).to.have.length(0);
    expect(file!.path).to.equal('index.yaml');
    const index = YAML.parse(text(file!.content));
    expect(index.apiVersion).to.equal('v1');
    expect(index.generated).to.equal('2024-03-05T06:07:08.000Z');
    expect(Object.keys(index.entries)).to.deep.equal(['nginx', 'redis']);
    expect(index.entries.nginx.map((entry: { version: string }) => entry.version)).to.deep.equal(['1.10.0', '1.10.0-rc.1', '1.9.0']);
    expect(index.entries.nginx[0]).to.deep.equal({ name: 'nginx', version: '1.10.0', urls: ['charts/nginx-1.10.0.tgz'], digest: sha });
    expect(index.entries.redis).to.deep.equal([{ name: 'redis', version: '0.1.0', urls: ['charts/redis-0.1.0.tgz'] }]);
  });
});
