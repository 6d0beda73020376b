import { expect } from 'chai';
import { Metrics } from '../../supervisor/metrics.js';
import { PLUGIN_ID } from './doubles.js';
import { startHarness, type Harness } from './harness.js';

describe('http: Prometheus metrics', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('are served without credentials in the text exposition format', async () => {
    const answer = await h.call('GET', '/metrics', { as: 'anonymous' });
    expect(answer.status).to.equal(200);
    expect(answer.headers.get('content-type')).to.match(/^text\/plain/);
    expect(answer.text).to.contain('plugin_keeper_process_resident_memory_bytes');
    expect(answer.text).to.contain('plugin_keeper_plugin_processes{plugin="demo-plugin",version="1.0.0",node="node-a",format="demo"} 2');
    expect(answer.text).to.contain('plugin_keeper_plugin_restarts{plugin="demo-plugin",version="1.0.0",node="node-a",format="demo"} 1');
  });

  it('count requests by route pattern and status, not by raw path', async () => {
    await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}`);
    await h.call('GET', '/api/v1/plugins/not-a-uuid');
    const { text } = await h.call('GET', '/metrics', { as: 'anonymous' });
    expect(text).to.match(/plugin_keeper_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/plugins\/:id",status="200"\} 1/);
    expect(text).to.match(/plugin_keeper_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/plugins\/:id",status="400"\} 1/);
    expect(text).to.not.contain(PLUGIN_ID);
  });
});

describe('http: Prometheus metrics behind METRICS_TOKEN', () => {
  const METRICS_TOKEN = 'scraper-secret-0123456789';
  let h: Harness;

  before(async () => {
    h = await startHarness({ METRICS_TOKEN });
  });
  after(async () => {
    await h.close();
  });

  it('answer only "Authorization: Bearer <METRICS_TOKEN>": anonymous, a wrong token or an API token get 401', async () => {
    for (const as of ['anonymous', 'admin', { headers: { authorization: 'Bearer wrong' } }, { headers: { authorization: `Basic ${METRICS_TOKEN}` } }] as const) {
      const refused = await h.call('GET', '/metrics', { as });
      expect(refused.status, JSON.stringify(as)).to.equal(401);
      expect(refused.json.error).to.be.oneOf(['unauthorized', 'invalid_credentials']);
      expect(refused.text).to.not.contain('plugin_keeper_');
      expect(refused.headers.get('www-authenticate')).to.contain('Bearer');
    }
    const answer = await h.call('GET', '/metrics', { as: { headers: { authorization: `Bearer ${METRICS_TOKEN}` } } });
    expect(answer.status).to.equal(200);
    expect(answer.text).to.contain('plugin_keeper_plugin_processes{plugin="demo-plugin",version="1.0.0",node="node-a",format="demo"} 2');
  });

  it('leave the other probes anonymous', async () => {
    expect((await h.call('GET', '/health', { as: 'anonymous' })).status).to.equal(200);
  });
});

describe('metrics: plugin runtime events', () => {
  it('tell failures inside a call (never counted toward quarantine) from the others', async () => {
    const metrics = new Metrics({ runningPlugins: () => [] }, 'node-a');
    metrics.countRuntimeEvent('demo', { type: 'crashed', reason: 'trap', inCall: true, message: 'trap' });
    metrics.countRuntimeEvent('demo', { type: 'crashed', reason: 'crashed', inCall: false, message: 'died' });
    metrics.countRuntimeEvent('demo', { type: 'quarantined', message: 'five' });
    const text = await metrics.registry.metrics();
    expect(text).to.contain('plugin_keeper_plugin_runtime_events_total{format="demo",type="crashed",in_call="true"} 1');
    expect(text).to.contain('plugin_keeper_plugin_runtime_events_total{format="demo",type="crashed",in_call="false"} 1');
    expect(text).to.contain('plugin_keeper_plugin_runtime_events_total{format="demo",type="quarantined",in_call="false"} 1');
  });
});
