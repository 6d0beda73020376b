import { expect } from 'chai';
import { parseSince } from '../../supervisor/http/routes/plugin-logs.js';
import { PLUGIN_ID } from './doubles.js';
import { startHarness, type Harness } from './harness.js';

describe('http: plugin log routes and /me', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });
  beforeEach(() => h.logs.reset());

  it('GET /:id/logs passes the query on (since as a time) and answers {items, next} to readers, under both prefixes', async () => {
    for (const prefix of ['/api/v1/plugins', '/api/plugins']) {
      const answer = await h.call('GET', `${prefix}/${PLUGIN_ID}/logs?after=0&since=10m&stream=stdout&limit=5`, { as: 'reader' });
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.json.next).to.equal(2);
      expect(answer.json.items).to.have.length(2);
    }
    const [, query] = h.logs.calls[0]!.args as [string, any];
    expect(query).to.include({ after: 0, stream: 'stdout', limit: 5 });
    expect(Date.parse(query.since)).to.be.closeTo(Date.now() - 600_000, 5000);
    expect((await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/logs`)).status).to.equal(200);
    expect(h.logs.calls.at(-1)!.args[1]).to.deep.equal({ after: undefined, since: undefined, stream: undefined, limit: 100 });
  });

  it('GET /:id/logs refuses bad queries with 400 naming each, and answers 404 for an unknown plugin', async () => {
    const answer = await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/logs?since=2026-13-45&stream=stdin&limit=5000&after=x`);
    expect(answer.status).to.equal(400);
    expect(answer.json.validation_errors.map((p: any) => p.field).sort()).to.deep.equal(['after', 'limit', 'since', 'stream']);
    expect(h.logs.calls).to.deep.equal([]);
    const missing = await h.call('GET', '/api/v1/plugins/00000000-0000-4000-8000-000000000000/logs');
    expect(missing.status).to.equal(404);
    expect((await h.call('GET', '/api/v1/plugins/not-a-uuid/logs')).status).to.equal(400);
  });

  it('GET /:id/logs/stream sends each line as an SSE event with its seq as id, after Last-Event-ID', async () => {
    const answer = await fetch(`${h.base}/api/v1/plugins/${PLUGIN_ID}/logs/stream`, {
      headers: { authorization: `Bearer ${h.readerToken}`, 'last-event-id': '1' },
    });
    expect(answer.status).to.equal(200);
    expect(answer.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
    expect(answer.headers.get('cache-control')).to.equal('no-cache');
    const text = await answer.text();
    expect(text).to.equal(`: following\n\nid: 2\ndata: ${JSON.stringify(h.logs.lines[1])}\n\n`);
    expect(h.logs.calls[0]!.args).to.deep.equal([PLUGIN_ID, 1]);
    const bad = await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/logs/stream`, { headers: { 'last-event-id': '1e3' } });
    expect(bad.status).to.equal(400);
    expect((await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/logs/stream`, { as: 'anonymous' })).status).to.equal(401);
  });

  it('GET /:id/logs/stream stops following once the client goes away', async () => {
    h.logs.endless = true;
    try {
      const abort = new AbortController();
      const answer = await fetch(`${h.base}/api/v1/plugins/${PLUGIN_ID}/logs/stream`, { headers: { authorization: `Bearer ${h.readerToken}` }, signal: abort.signal });
      const reader = answer.body!.getReader();
      let text = '';
      while (!text.includes('id: 2')) text += new TextDecoder().decode((await reader.read()).value);
      expect(h.logs.aborted).to.equal(false);
      abort.abort();
      const deadline = Date.now() + 5000;
      while (!h.logs.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(h.logs.aborted, 'the follow was aborted').to.equal(true);
    } finally {
      h.logs.endless = false;
      h.logs.aborted = false;
    }
  });

  it('GET /api/v1/me names the role, and the token for API tokens; 401 without credentials', async () => {
    expect((await h.call('GET', '/api/v1/me')).json).to.deep.equal({ role: 'admin' });
    expect((await h.call('GET', '/api/v1/me', { as: 'reader' })).json).to.deep.equal({ role: 'reader', token_name: 'reader' });
    expect((await h.call('GET', '/api/v1/me', { as: { headers: { authorization: `Bearer ${h.adminToken}` } } })).json).to.deep.equal({ role: 'admin', token_name: 'admin' });
    expect((await h.call('GET', '/api/v1/me', { as: 'anonymous' })).status).to.equal(401);
  });

  it('parseSince reads RFC 3339 times and durations back from now, and nothing else', () => {
    const now = Date.parse('2026-01-01T12:00:00.000Z');
    expect(parseSince('10m', now)).to.equal('2026-01-01T11:50:00.000Z');
    expect(parseSince('2h', now)).to.equal('2026-01-01T10:00:00.000Z');
    expect(parseSince('1d', now)).to.equal('2025-12-31T12:00:00.000Z');
    expect(parseSince('30s', now)).to.equal('2026-01-01T11:59:30.000Z');
    expect(parseSince('2026-01-01T13:00:00+02:00', now)).to.equal('2026-01-01T11:00:00.000Z');
    for (const bad of ['10', 'm', '-5m', '10 m', '2026-01-01', 'yesterday', '2026-02-30T00:00:00Z x']) expect(parseSince(bad, now), bad).to.equal(undefined);
  });
});
