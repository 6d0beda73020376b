// Nodes as an operator sees them, with real supervisor processes on one PostgreSQL schema:
// up, leaving after SIGTERM, lost after SIGKILL (the others keep answering), a restart
// taking its row over at once, two processes with one NODE_ID, /ready around start and
// stop; one supervisor per DATA_DIR; plugin children dying with their supervisor.
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { form, manifest, pluginZip } from '../e2e/harness.js';
import { isRunning } from '../support/assertions.js';
import { startCluster, TEST_HEARTBEAT_MS, TEST_NODE_TIMEOUT_MS, type Cluster, type NodeProcess } from './harness.js';

describe('cluster: nodes', function () {
  this.timeout(120_000);
  let cluster: Cluster;

  beforeEach(async () => {
    cluster = await startCluster();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
    await cluster.close();
  });

  const listNodes = async (node: NodeProcess, as: 'admin' | 'anonymous' = 'admin') => {
    const answer = await node.call('GET', '/api/v1/cluster/nodes', { anonymous: as === 'anonymous' });
    expect(answer.status, answer.text).to.equal(200);
    return answer.json.items as Array<Record<string, any>>;
  };
  const stateOf = async (viewer: NodeProcess, nodeId: string) => (await listNodes(viewer)).find((node) => node.node_id === nodeId)?.state;
  /** Polls until `nodeId` has `state` as `viewer` sees it; returns how long it took. */
  const waitForState = async (viewer: NodeProcess, nodeId: string, state: string, ms: number) => {
    const started = Date.now();
    while ((await stateOf(viewer, nodeId)) !== state) {
      if (Date.now() - started > ms) expect.fail(`${nodeId} not ${state} within ${ms} ms: ${JSON.stringify(await listNodes(viewer))}`);
      await delay(50);
    }
    return Date.now() - started;
  };

  it('two nodes list each other up, with their versions and plugin counts', async () => {
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    const version = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version;
    for (const viewer of [a, b]) {
      const nodes = await listNodes(viewer);
      expect(nodes.map((node) => [node.node_id, node.state, node.version])).to.deep.equal([
        ['a', 'up', version],
        ['b', 'up', version],
      ]);
      for (const node of nodes) {
        expect(node.plugins).to.deep.equal({ running: 0, error: 0 });
        expect(Date.parse(node.last_seen_at)).to.be.at.least(Date.parse(node.started_at));
      }
    }
    expect((await a.call('GET', '/health')).json.checks.cluster).to.deep.equal({ ok: true, nodes_up: 2, nodes_lost: 0 });
    expect((await a.call('GET', '/api/v1/cluster/nodes', { anonymous: true })).status).to.equal(401);
  });

  it('SIGTERM: /ready answers 503 at once while the node still serves, the others see it leaving, it exits 0', async () => {
    const a = await cluster.start('a', { env: { SHUTDOWN_GRACE_MS: '1500' } });
    const b = await cluster.start('b');
    expect((await a.call('GET', '/ready', { anonymous: true })).status).to.equal(200);
    a.signal('SIGTERM');
    // During the grace: not ready, still answering everything else, already leaving.
    const deadline = Date.now() + 1000;
    let ready = await a.call('GET', '/ready', { anonymous: true });
    while (ready.status === 200 && Date.now() < deadline) ready = await a.call('GET', '/ready', { anonymous: true });
    expect(ready.status).to.equal(503);
    expect(ready.json).to.deep.equal({ status: 'stopping' });
    expect((await a.call('GET', '/api/v1/repositories')).status).to.equal(200);
    await waitForState(b, 'a', 'leaving', 1000);
    expect(await a.exited).to.deep.equal({ code: 0, signal: null });
    // Leaving stays leaving: never reported lost.
    await delay(TEST_NODE_TIMEOUT_MS + 500);
    expect(await stateOf(b, 'a')).to.equal('leaving');
    expect((await b.call('GET', '/health')).json.checks.cluster).to.deep.equal({ ok: true, nodes_up: 1, nodes_lost: 0 });
  });

  it('SIGKILL: the others report the node lost within the timeout and keep answering; restarted, it takes its row over at once', async () => {
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    const before = (await listNodes(b)).find((node) => node.node_id === 'a')!;
    await a.kill('SIGKILL');
    const killedAt = Date.now();
    // Up until the timeout has passed since its last heartbeat; lost right after.
    await waitForState(b, 'a', 'lost', TEST_NODE_TIMEOUT_MS + 1500);
    expect(Date.now() - killedAt).to.be.at.least(TEST_NODE_TIMEOUT_MS - TEST_HEARTBEAT_MS - 100);
    expect((await b.call('GET', '/health')).json.checks.cluster).to.deep.equal({ ok: true, nodes_up: 1, nodes_lost: 1 });
    expect((await b.call('GET', '/api/v1/repositories')).status).to.equal(200);

    await a.restart();
    // No wait for any timeout: up as soon as it listens, a new start.
    const after = (await listNodes(b)).find((node) => node.node_id === 'a')!;
    expect(after.state).to.equal('up');
    expect(after.started_at > before.started_at).to.equal(true);
    const lines = await a.logLines();
    expect(lines.some((line) => line.msg === 'took over the row of this node id from an earlier incarnation')).to.equal(true);
  });

  it('two processes with one NODE_ID: the older one logs that two nodes share one id and exits 1', async () => {
    const older = await cluster.start('twin');
    const newer = await cluster.start('twin');
    const exit = await Promise.race([older.exited, delay(TEST_HEARTBEAT_MS * 10 + 3000).then(() => 'still running')]);
    expect(exit).to.deep.equal({ code: 1, signal: null });
    const line = (await older.logLines()).find((entry) => String(entry.msg).startsWith('two nodes share one id "twin"'));
    expect(line, 'the error line').to.not.equal(undefined);
    expect(line!.level).to.equal(50);
    expect(line!.incarnation).to.be.a('string');
    expect(line!.other_incarnation).to.be.a('string').and.not.equal(line!.incarnation);
    expect(line!.msg).to.contain(line!.incarnation).and.contain(line!.other_incarnation);
    // The newer one serves on, up.
    expect(newer.running).to.equal(true);
    expect(await stateOf(newer, 'twin')).to.equal('up');
  });

  it('/ready answers 503 until the active plugins are started again', async () => {
    const a = await cluster.start('a');
    const zip = await pluginZip(manifest('ready-demo', '1.0.0', 'demo'), 'good');
    const installed = await a.call('POST', '/api/v1/plugins/install/zip', { body: form('file', zip, 'demo.zip') });
    expect(installed.status, installed.text).to.equal(201);

    let during: { status: number; json: any } | undefined;
    await a.restart({
      onListening: async (url) => {
        const answer = await fetch(`${url}/ready`);
        during = { status: answer.status, json: await answer.json() };
      },
    });
    expect(during).to.deep.equal({ status: 503, json: { status: 'starting' } });
    const until = Date.now() + 20_000;
    while ((await a.call('GET', '/ready', { anonymous: true })).status !== 200 && Date.now() < until) await delay(50);
    expect((await a.call('GET', '/ready', { anonymous: true })).json).to.deep.equal({ status: 'ready' });
    const plugin = (await a.call('GET', `/api/v1/plugins/${installed.json.id}`)).json;
    expect(plugin.runtime.state).to.equal('running');
  });

  it('a second supervisor on the same DATA_DIR refuses to start, naming the holder; after SIGKILL of the holder one starts at once', async () => {
    // SQLite (no DATABASE_URL): the embedded default, where the data directory holds the database too.
    const sqlite = { DATABASE_URL: '' };
    const first = await cluster.start('first', { env: sqlite });
    const refused = await cluster.start('second', { env: sqlite, dataDir: first.dataDir }).then(
      () => expect.fail('the second supervisor started'),
      (error: Error) => error,
    );
    const second = cluster.nodes.at(-1)!;
    expect(await second.exited).to.deep.equal({ code: 1, signal: null });
    expect(refused.message).to.contain(`DATA_DIR ${first.dataDir} is in use by another supervisor (pid ${first.pid}, node "first"`);
    expect((await first.call('GET', '/api/v1/cluster/nodes')).json.items.map((node: any) => node.node_id)).to.deep.equal(['first']);

    await first.kill('SIGKILL');
    const started = Date.now();
    const third = await cluster.start('third', { env: sqlite, dataDir: first.dataDir });
    expect(Date.now() - started).to.be.below(15_000);
    // Same database: the killed node's row is there, lost in time; this one is up.
    const nodes = await listNodes(third);
    expect(nodes.find((node) => node.node_id === 'third')!.state).to.equal('up');
    expect(nodes.map((node) => node.node_id)).to.include('first');
  });

  it("a supervisor killed with SIGKILL leaves none of its plugin processes behind, even one stuck in a guest loop", async () => {
    const a = await cluster.start('a');
    const zip = await pluginZip(manifest('loop-format', '1.0.0', 'loop', '\n[requirements]\ntimeout_secs = 60\n'), 'loop');
    const installed = await a.call('POST', '/api/v1/plugins/install/zip', { body: form('file', zip, 'loop.zip') });
    expect(installed.status, installed.text).to.equal(201);
    const pids: number[] = (await a.call('GET', `/api/v1/plugins/${installed.json.id}/processes`)).json.items.map((item: any) => item.pid);
    expect(pids).to.have.length.greaterThan(0);

    // A call that never returns: the child spins in the guest.
    const stuck = a.call('POST', '/api/v1/formats/loop/test', { body: { path: 'a.loop', content: 'x' } }).catch(() => undefined);
    const initialTicks = await Promise.all(pids.map(cpuTicks));
    const spinning = Date.now() + 10_000;
    while (!(await Promise.all(pids.map(cpuTicks))).some((ticks, i) => ticks > initialTicks[i]! + 20) && Date.now() < spinning) await delay(100);
    expect(await Promise.all(pids.map(isRunning))).to.deep.equal(pids.map(() => true));

    await a.kill('SIGKILL');
    await stuck;
    const until = Date.now() + 5000;
    while ((await Promise.all(pids.map(isRunning))).some(Boolean) && Date.now() < until) await delay(50);
    expect(await Promise.all(pids.map(isRunning)), 'plugin processes left').to.deep.equal(pids.map(() => false));
  });
});

/** User-mode CPU time a process has used, in clock ticks. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  // After "pid (comm) ": state is field 3; utime is field 14.
  return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11]) : 0;
}
