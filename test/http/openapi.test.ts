import { expect } from 'chai';
import { PLUGIN_ID } from './doubles.js';
import { startHarness, type Harness } from './harness.js';

/** Every route of the contract, as `METHOD path` relative to its mounts. */
const PLUGIN_ROUTES = [
  'get ',
  'post /install/git',
  'post /install/zip',
  'post /install/local',
  'get /{id}',
  'delete /{id}',
  'post /{id}/enable',
  'post /{id}/disable',
  'post /{id}/reload',
  'put /{id}/limits',
  'get /{id}/events',
  'get /{id}/logs',
  'get /{id}/logs/stream',
  'get /{id}/processes',
];
const REPOSITORY_ROUTES = [
  'get ',
  'post ',
  'get /{key}',
  'delete /{key}',
  'get /{key}/artifacts',
  'put /{key}/artifacts/{path}',
  'get /{key}/artifacts/{path}',
  'delete /{key}/artifacts/{path}',
  'get /{key}/index',
  'get /{key}/index/{path}',
];
const NATIVE_ROUTES = ['get', 'head', 'post', 'put', 'patch', 'delete'].map((method) => `${method} /ext/{format_key}/{repo_key}/{path}`);
const FORMAT_ROUTES = ['get ', 'get /{format_key}', 'post /{format_key}/enable', 'post /{format_key}/disable', 'post /{format_key}/test'];

const expected = [
  ...['/api/v1/plugins', '/api/plugins'].flatMap((mount) => PLUGIN_ROUTES.map((route) => route.replace(' ', ` ${mount}`))),
  ...['/api/v1/formats', '/api/format-handlers'].flatMap((mount) => FORMAT_ROUTES.map((route) => route.replace(' ', ` ${mount}`))),
  ...REPOSITORY_ROUTES.map((route) => route.replace(' ', ' /api/v1/repositories')),
  ...NATIVE_ROUTES,
  'get /api/v1/cluster/nodes',
  'get /health',
  'get /ready',
  'get /api/v1/me',
  'get /api/v1/openapi.json',
];

describe('http: OpenAPI document', () => {
  let h: Harness;
  let doc: any;

  before(async () => {
    h = await startHarness();
    const answer = await h.call('GET', '/api/v1/openapi.json');
    expect(answer.status).to.equal(200);
    expect(answer.headers.get('content-type')).to.match(/^application\/json/);
    doc = JSON.parse(answer.text);
  });
  after(() => h.close());

  it('is OpenAPI 3.1.0', () => {
    expect(doc.openapi).to.equal('3.1.0');
    expect(doc.info.title).to.be.a('string');
  });

  it('needs credentials like every /api path', async () => {
    expect((await h.call('GET', '/api/v1/openapi.json', { as: 'anonymous' })).status).to.equal(401);
  });

  it('lists every route of the contract, and nothing else', () => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item as object).map((method) => `${method} ${path}`));
    expect(listed).to.have.members(expected);
  });

  it('every listed operation is served (neither 404 nor 405)', async () => {
    for (const route of expected) {
      const [method, path] = route.split(' ') as [string, string];
      const target = path.replace('{id}', PLUGIN_ID).replace('{format_key}', 'unity').replace('{key}', 'libs').replace('{repo_key}', 'libs').replace('{path}', 'a/b.txt');
      const answer = await h.call(method.toUpperCase(), target);
      expect([404, 405], `${route} → ${answer.status}`).not.to.include(answer.status);
    }
  });

  it('resolves every $ref', () => {
    const refs = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref') refs.add(value as string);
          else walk(value);
        }
      }
    };
    walk(doc);
    expect(refs.size).to.be.greaterThan(10);
    for (const ref of refs) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce((node: any, part) => node?.[part], doc);
      expect(target, ref).to.be.an('object');
    }
  });

  it('has unique operation ids, one per canonical operation', () => {
    const ids = Object.values(doc.paths).flatMap((item: any) => Object.values(item).map((op: any) => op.operationId)).filter(Boolean);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(ids).to.have.length(PLUGIN_ROUTES.length + FORMAT_ROUTES.length + REPOSITORY_ROUTES.length + NATIVE_ROUTES.length + 5);
  });

  it('describes the schemas and security schemes', () => {
    expect(doc.components.schemas).to.include.keys('Plugin', 'FormatHandler', 'Event', 'Process', 'Error', 'PluginList', 'FormatHandlerList', 'EventList', 'ProcessList', 'Repository', 'RepositoryList', 'Artifact', 'ArtifactList', 'IndexFileList');
    const schemes = doc.components.securitySchemes;
    expect(schemes.bearer).to.include({ type: 'http', scheme: 'bearer' });
    expect(schemes.apiKey).to.include({ type: 'apiKey', in: 'header', name: 'X-Api-Key' });
    expect(schemes.basic).to.include({ type: 'http', scheme: 'basic' });
    expect(doc.security).to.deep.equal([{ bearer: [] }, { apiKey: [] }, { basic: [] }]);
    expect(doc.paths['/health'].get.security).to.deep.equal([]);
  });

  it('writes down the limits ranges and the upload field names', () => {
    expect(doc.components.schemas.LimitsUpdate.properties).to.deep.equal({
      memory_mb: { type: 'integer', minimum: 1, maximum: 1024 },
      timeout_secs: { type: 'integer', minimum: 1, maximum: 300 },
      instances: { type: 'integer', minimum: 1, maximum: 16 },
    });
    expect(Object.keys(doc.components.schemas.ZipUpload.properties)).to.deep.equal(['file', 'package', 'zip']);
    expect(doc.info.description).to.include('timeout_secs');
  });
});
