import { expect } from 'chai';
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
    expect(answer.text).to.contain('plugin_keeper_plugin_processes{format="demo",version="1.0.0"} 2');
    expect(answer.text).to.contain('plugin_keeper_plugin_restarts{format="demo",version="1.0.0"} 1');
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
