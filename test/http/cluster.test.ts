import { expect } from 'chai';
import { startHarness, type Harness } from './harness.js';

describe('http: cluster', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  it('GET /api/v1/cluster/nodes → 200 {items} for a reader', async () => {
    const answer = await h.call('GET', '/api/v1/cluster/nodes', { as: 'reader' });
    expect(answer.status).to.equal(200);
    expect(answer.json).to.deep.equal({ items: h.cluster.items });
  });

  it('needs credentials; nothing but GET is routed', async () => {
    expect((await h.call('GET', '/api/v1/cluster/nodes', { as: 'anonymous' })).status).to.equal(401);
    expect((await h.call('DELETE', '/api/v1/cluster/nodes', { as: 'reader' })).status).to.equal(403);
    const answer = await h.call('DELETE', '/api/v1/cluster/nodes', { as: 'admin' });
    expect(answer.status).to.equal(405);
    expect(answer.headers.get('allow')).to.contain('GET');
  });
});
