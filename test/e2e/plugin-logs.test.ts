// End to end on both engines: plugin log lines, exits explained, /health naming a quarantined
// plugin, /me, the per-plugin metrics.
import { expect } from 'chai';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { stdoutLoggerComponent } from '../support/stdout-logger.js';
import { makeZip } from '../support/zips.js';
import { eventually, form, manifest, resetService, startE2E, type E2E } from './harness.js';

const PLUGINS = '/api/v1/plugins';

for (const engine of [sqliteFixture(), postgresFixture()]) {
  describe(`plugin logs end to end (${engine.engine})`, function () {
    this.timeout(120_000);
    let fixture: EngineFixture;
    let e2e: E2E;

    before(async () => {
      fixture = engine;
      // A low rate, so that a plugin printing 1,000 lines at start is a flood.
      e2e = await startE2E(fixture, { PLUGIN_LOG_RATE: '50', PLUGIN_LOG_BURST: '100' });
    });
    after(async () => {
      await e2e?.close();
      await fixture?.dispose();
    });
    afterEach(async () => {
      await resetService(e2e);
    });

    /** Installs a plugin whose format-key (run at every process start) prints `text` `times` times. */
    async function installLogger(name: string, text: string, times: number): Promise<string> {
      const wasm = await stdoutLoggerComponent(text, times);
      const zip = makeZip([
        { name: 'pkg/plugin.toml', data: manifest(name, '1.0.0', 'logger') },
        { name: 'pkg/plugin.wasm', data: Buffer.from(wasm) },
      ]);
      const answer = await e2e.call('POST', `${PLUGINS}/install/zip`, { body: form('file', zip, `${name}.zip`) });
      expect(answer.status, answer.text).to.equal(201);
      return answer.json.id;
    }

    const logs = async (id: string, query = '') => (await e2e.call('GET', `${PLUGINS}/${id}/logs${query}`)).json;

    it("keeps a plugin's lines with seq, time, node, pid, version and stream; pages, filters and refuses bad queries", async () => {
      const id = await installLogger('hello-logger', 'hello from the guest\n', 3);
      expect(await eventually(async () => (await logs(id)).items.length >= 3)).to.equal(true);
      const { items, next } = await logs(id);
      const [pid] = (await e2e.call('GET', `${PLUGINS}/${id}`)).json.runtime.pids;
      expect(items.slice(0, 3)).to.deep.equal(
        [1, 2, 3].map((seq) => ({ seq, time: items[seq - 1].time, node_id: items[0].node_id, pid, version: '1.0.0', stream: 'stdout', text: 'hello from the guest' })),
      );
      expect(items[0].node_id).to.be.a('string').that.is.not.empty;
      expect(Date.parse(items[0].time)).to.be.closeTo(Date.now(), 60_000);
      expect(next).to.equal(items.at(-1).seq);

      expect((await logs(id, '?limit=2')).items.map((line: any) => line.seq)).to.deep.equal([items.length - 1, items.length]);
      expect(await logs(id, `?after=${next}`)).to.deep.equal({ items: [], next });
      expect((await logs(id, '?since=10m&stream=stdout')).items).to.have.length(3);
      expect((await logs(id, `?since=${new Date(Date.now() + 60_000).toISOString()}`)).items).to.deep.equal([]);
      expect((await logs(id, '?stream=host')).items.every((line: any) => line.stream === 'host')).to.equal(true);

      for (const query of ['?since=yesterday', '?stream=stdin', '?limit=0', '?limit=1001', '?after=-1']) {
        const refused = await e2e.call('GET', `${PLUGINS}/${id}/logs${query}`);
        expect(refused.status, query).to.equal(400);
        expect(refused.json.error).to.equal('bad_request');
      }
      const missing = await e2e.call('GET', `${PLUGINS}/00000000-0000-4000-8000-000000000000/logs`);
      expect(missing.status).to.equal(404);
      const reader = await e2e.createToken('reader');
      const read = await e2e.call('GET', `${PLUGINS}/${id}/logs`, { headers: { authorization: `Bearer ${reader}` } });
      expect(read.status).to.equal(200);
      expect((await e2e.call('GET', `${PLUGINS}/${id}/logs`, { anonymous: true })).status).to.equal(401);
    });

    it('follows new lines as Server-Sent Events, resuming after Last-Event-ID', async () => {
      const id = await installLogger('sse-logger', 'streamed line\n', 2);
      expect(await eventually(async () => (await logs(id)).items.length >= 2)).to.equal(true);
      const abort = new AbortController();
      const answer = await fetch(`${e2e.url}${PLUGINS}/${id}/logs/stream`, {
        headers: { authorization: `Bearer ${e2e.adminToken}`, 'last-event-id': '1' },
        signal: abort.signal,
      });
      expect(answer.status).to.equal(200);
      expect(answer.headers.get('content-type')).to.match(/^text\/event-stream/);
      const reader = answer.body!.getReader();
      let text = '';
      // Line 2 (after Last-Event-ID 1) at once; a restart of the process then prints two more.
      const deadline = Date.now() + 20_000;
      while (!text.includes('id: 2\n') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
      const [pid] = (await e2e.call('GET', `${PLUGINS}/${id}`)).json.runtime.pids;
      process.kill(pid, 'SIGKILL');
      while (!/"text":"streamed line"[^\n]*\n\n[^]*"text":"streamed line"[^\n]*\n\n[^]*"text":"streamed line"/.test(text) && Date.now() < deadline) {
        text += new TextDecoder().decode((await reader.read()).value);
      }
      abort.abort();
      const events = text
        .split('\n\n')
        .filter((chunk) => chunk.startsWith('id: '))
        .map((chunk) => ({ id: Number(/^id: (\d+)/.exec(chunk)![1]), line: JSON.parse(/\ndata: (.*)$/.exec(chunk)![1]!) }));
      expect(events[0]!.id).to.equal(2);
      expect(events.every((event) => event.id === event.line.seq)).to.equal(true);
      expect(events.map((event) => event.id)).to.deep.equal([...events.map((event) => event.id)].sort((a, b) => a - b));
      expect(events.filter((event) => event.line.text === 'streamed line')).to.have.length.of.at.least(3);
      expect(events.some((event) => event.line.stream === 'host' && event.line.text.startsWith('crashed'))).to.equal(true);
      expect((await e2e.call('GET', `${PLUGINS}/${id}/logs/stream`, { headers: { 'last-event-id': 'abc' } })).status).to.equal(400);
    });

    it('drops a flood over the rate, says how many in one host line, and counts them in the metrics', async () => {
      const id = await installLogger('flood-logger', 'flood\n', 1000);
      const dropped = async () => (await logs(id, '?stream=host')).items.find((line: any) => line.text.startsWith('dropped '));
      expect(await eventually(async () => (await dropped()) !== undefined, 30_000)).to.equal(true);
      const notice = await dropped();
      const count = Number(/^dropped (\d+) lines/.exec(notice.text)![1]);
      const kept = (await logs(id, '?stream=stdout&limit=1000')).items.length;
      expect(kept + count).to.equal(1000);
      expect(kept).to.be.within(100, 200);
      expect(notice.text).to.contain('over the limit of 50 lines/s (burst 100)');
      const metrics = (await e2e.call('GET', '/metrics', { anonymous: true })).text;
      expect(metrics).to.match(new RegExp(`plugin_keeper_plugin_log_lines_dropped_total\\{plugin="flood-logger",version="1.0.0",node="[^"]+"\\} ${count}`));
    });

    it('explains an exit: last_exit with reason, message, time and the stderr tail, also on the crash and restart events', async () => {
      const id = await installLogger('dying-logger', 'last words\n', 2);
      const [pid] = (await e2e.call('GET', `${PLUGINS}/${id}`)).json.runtime.pids;
      process.kill(pid, 'SIGKILL');
      const lastExit = async () => (await e2e.call('GET', `${PLUGINS}/${id}/processes`)).json.items[0]?.last_exit;
      expect(await eventually(async () => (await lastExit()) != null, 10_000)).to.equal(true);
      const exit = await lastExit();
      expect(exit).to.include({ code: null, signal: 'SIGKILL', reason: 'crashed' });
      expect(exit.message).to.contain('exited unexpectedly');
      expect(Date.parse(exit.at)).to.be.closeTo(Date.now(), 60_000);
      expect(exit.stderr_tail).to.deep.equal(['[plugin stdout] last words', '[plugin stdout] last words']);
      const restarted = async () => (await e2e.call('GET', `${PLUGINS}/${id}/events`)).json.items.find((e: any) => e.event_type === 'restarted');
      expect(await eventually(async () => (await restarted()) !== undefined, 10_000)).to.equal(true);
      const events = (await e2e.call('GET', `${PLUGINS}/${id}/events`)).json.items;
      const crash = events.find((e: any) => e.event_type === 'crashed');
      expect(crash.details.last_exit).to.deep.equal(exit);
      expect((await restarted()).details.last_exit).to.deep.equal(exit);
    });

    it('/health is degraded and names a plugin quarantined on this node, still answering 200', async () => {
      expect((await e2e.call('GET', '/health', { anonymous: true })).json.status).to.equal('ok');
      const id = await installLogger('crash-looper', 'looping\n', 1);
      let pid: number | undefined;
      for (let i = 0; i < 5; i++) {
        const previous = pid;
        expect(
          await eventually(async () => {
            pid = (await e2e.call('GET', `${PLUGINS}/${id}/processes`)).json.items[0]?.pid ?? previous;
            return pid !== previous;
          }, 10_000),
        ).to.equal(true);
        process.kill(pid!, 'SIGKILL');
      }
      expect(await eventually(async () => (await e2e.call('GET', '/health', { anonymous: true })).json.status === 'degraded', 10_000)).to.equal(true);
      const health = await e2e.call('GET', '/health', { anonymous: true });
      expect(health.status).to.equal(200);
      expect(health.json.checks.plugins).to.deep.include({ ok: false, active: 1, running: 0, error: 1 });
      const [failing] = health.json.checks.plugins.failing;
      expect(failing).to.include({ id, name: 'crash-looper', version: '1.0.0', state: 'quarantined' });
      expect(failing.message).to.contain('5 crashes outside calls');
      const quarantined = (await e2e.call('GET', `${PLUGINS}/${id}/events`)).json.items.find((e: any) => e.event_type === 'quarantined');
      expect(quarantined.details.last_exit).to.include({ reason: 'crashed', signal: 'SIGKILL' });
    });

    it('/me tells the caller its role and token name', async () => {
      expect((await e2e.call('GET', '/api/v1/me')).json).to.deep.equal({ role: 'admin' });
      const reader = await e2e.createToken('reader');
      const me = await e2e.call('GET', '/api/v1/me', { headers: { authorization: `Bearer ${reader}` } });
      expect(me.status).to.equal(200);
      expect(me.json).to.deep.equal({ role: 'reader', token_name: 'e2e-reader' });
      expect((await e2e.call('GET', '/api/v1/me', { anonymous: true })).status).to.equal(401);
    });

    it('counts handler calls only: listing processes adds none', async () => {
      const id = await installLogger('quiet-logger', 'hi\n', 1);
      const first = (await e2e.call('GET', `${PLUGINS}/${id}/processes`)).json.items[0];
      const second = (await e2e.call('GET', `${PLUGINS}/${id}/processes`)).json.items[0];
      expect(first.calls_total).to.equal(0);
      expect(second.calls_total).to.equal(0);
      const metrics = (await e2e.call('GET', '/metrics', { anonymous: true })).text;
      expect(metrics).to.match(/plugin_keeper_plugin_rss_bytes\{plugin="quiet-logger",version="1.0.0",node="[^"]+",format="logger"\} \d+/);
      expect(metrics).to.not.match(/plugin_keeper_plugin_calls_total\{plugin="quiet-logger"/);
      // A format test: validate answers, parse-metadata traps (this fixture's is `unreachable`).
      const tested = await e2e.call('POST', '/api/v1/formats/logger/test', { body: { path: 'a.logger', content: 'x' } });
      expect(tested.status, tested.text).to.equal(502);
      const [after] = (await e2e.call('GET', `${PLUGINS}/${id}/processes`)).json.items;
      expect(after.calls_total).to.equal(2);
      expect(after.errors_total).to.equal(1);
      const counted = (await e2e.call('GET', '/metrics', { anonymous: true })).text;
      expect(counted).to.match(/plugin_keeper_plugin_calls_total\{plugin="quiet-logger",version="1.0.0",node="[^"]+",method="handler\/validate",outcome="ok"\} 1/);
      expect(counted).to.match(/plugin_keeper_plugin_calls_total\{plugin="quiet-logger",version="1.0.0",node="[^"]+",method="handler\/parseMetadata",outcome="plugin_crashed"\} 1/);
      expect(counted).to.match(/plugin_keeper_plugin_call_duration_seconds_count\{plugin="quiet-logger",version="1.0.0",node="[^"]+",method="handler\/validate"\} 1/);
    });
  });
}
