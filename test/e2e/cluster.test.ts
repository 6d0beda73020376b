// Two supervisors on one PostgreSQL schema: a mutation made through one node takes effect on
// the other (announced by NOTIFY; the periodic pass is set to 10 minutes, so only the
// notifications can make these tests pass), each node's failures stay its own, and a dropped
// notification connection is recovered without a restart. The bodies see only `nodes`.
import { expect } from 'chai';
import { access } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { postgresFixture, type EngineFixture } from '../support/engines.js';
import type { ClusterNode, InProcessCluster } from './cluster-nodes.js';
import { startInProcessCluster } from './cluster-nodes.js';
import { eventually, isAlive, manifest, pluginFolder, type Answer } from './harness.js';

const PLUGINS = '/api/v1/plugins';
const FORMATS = '/api/v1/formats';
const DEMO_TEXT = 'DEMO artifact';

describe('cluster: desired state reconciled on every node (two supervisors, PostgreSQL)', function () {
  this.timeout(120_000);
  let engine: EngineFixture;
  let cluster: InProcessCluster;
  let a: ClusterNode;
  let b: ClusterNode;
  /** Milliseconds from the receiving node's answer to the other node serving the change. */
  const propagation: number[] = [];

  before(async () => {
    engine = postgresFixture();
    cluster = await startInProcessCluster(engine, 2, {
      CLUSTER_RECONCILE_MS: '600000',
      CLUSTER_HEARTBEAT_MS: '300',
      CLUSTER_NODE_TIMEOUT_MS: '5000',
    });
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  afterEach(async () => {
    for (const plugin of (await a.call('GET', `${PLUGINS}?per_page=100`)).json.items) {
      expect((await a.call('DELETE', `${PLUGINS}/${plugin.id}?force=true`)).status).to.equal(204);
    }
  });
  after(async () => {
    await cluster?.close();
    await engine?.dispose();
    if (propagation.length > 0) {
      const sorted = [...propagation].sort((x, y) => x - y);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      console.log(`      propagation over ${sorted.length} changes: p50 ${at(0.5)} ms, max ${sorted.at(-1)} ms`);
    }
  });

  const testFormat = (node: ClusterNode, key: string, content = DEMO_TEXT) =>
    node.call('POST', `${FORMATS}/${key}/test`, { body: { path: 'dir/a.demo', content } });

  async function install(node: ClusterNode, folder: string, toml: string, wasm: Parameters<typeof pluginFolder>[3]): Promise<any> {
    const dir = await pluginFolder(cluster.localRoot, folder, toml, wasm);
    const answer = await node.call('POST', `${PLUGINS}/install/local`, { body: { path: dir } });
    expect(answer.status, answer.text).to.equal(201);
    return answer.json;
  }

  /** Waits until `probe` holds on a node, recording how long it took. */
  async function propagated(probe: () => Promise<boolean>, what: string): Promise<void> {
    const started = performance.now();
    const held = await eventually(probe, 10_000);
    expect(held, what).to.equal(true);
    propagation.push(Math.round(performance.now() - started));
  }

  const plugin = async (node: ClusterNode, id: string) => (await node.call('GET', `${PLUGINS}/${id}`)).json;
  const nodeStates = async (node: ClusterNode, id: string) =>
    Object.fromEntries((await plugin(node, id)).nodes.map((state: any) => [state.node_id, state]));

  /** SIGKILLs the node's idle process of the plugin five times, each once its replacement is up: deaths outside calls. */
  async function crashOutsideCalls(node: ClusterNode, id: string): Promise<void> {
    let pid: number | undefined;
    for (let i = 0; i < 5; i++) {
      const previous = pid;
      const restarted = await eventually(async () => {
        pid = (await plugin(node, id)).runtime.pids[0] ?? previous;
        return pid !== previous;
      }, 10_000);
      expect(restarted, 'a new process').to.equal(true);
      process.kill(pid!, 'SIGKILL');
    }
  }

  it('install on A: B serves it from the stored component, and the plugin shows both nodes running', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves the new format');
    const states = await nodeStates(b, installed.id);
    expect(Object.keys(states)).to.deep.equal([a.id, b.id]);
    for (const state of Object.values(states) as any[]) {
      expect(state).to.include({ version: '1.0.0', state: 'running', error_message: null });
      expect(state.pids).to.have.length(1);
    }
    // B's copy is the stored component, not A's folder.
    await access(path.join(b.dataDir, 'plugins', installed.id));
    const processes = await eventually(async () => {
      const { items } = (await b.call('GET', `${PLUGINS}/${installed.id}/processes`)).json;
      return items.map((p: any) => p.node_id).sort().join() === `${a.id},${b.id}`;
    });
    expect(processes, 'processes of both nodes, from either').to.equal(true);
  });

  it('disable on B stops A\'s processes; enable on B starts them again', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves');
    const [pidOnA] = installed.runtime.pids;
    expect((await b.call('POST', `${PLUGINS}/${installed.id}/disable`)).status).to.equal(200);
    await propagated(async () => !isAlive(pidOnA), "A's process stops");
    expect((await testFormat(a, 'demo')).status).to.equal(503);
    const enabled = await b.call('POST', `${PLUGINS}/${installed.id}/enable`);
    expect(enabled.status, enabled.text).to.equal(200);
    await propagated(async () => (await testFormat(a, 'demo')).status === 200, 'A serves again');
  });

  it('reload on A while calls go to both nodes: no call fails, both end on the new version', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves');
    let stop = false;
    const failures: Answer[] = [];
    let calls = 0;
    const caller = async (node: ClusterNode) => {
      while (!stop) {
        const answer = await testFormat(node, 'demo');
        calls++;
        if (answer.status !== 200) failures.push(answer);
      }
    };
    const callers = [caller(a), caller(b), caller(a), caller(b)];
    for (const version of ['1.1.0', '1.2.0']) {
      await pluginFolder(cluster.localRoot, 'demo', manifest('demo-format', version, 'demo'), 'good');
      const reloaded = await a.call('POST', `${PLUGINS}/${installed.id}/reload`, { body: {} });
      expect(reloaded.status, reloaded.text).to.equal(200);
      await propagated(async () => (await nodeStates(a, installed.id))[b.id]?.version === version, `B runs ${version}`);
    }
    stop = true;
    await Promise.all(callers);
    expect(failures.map((f) => f.text)).to.deep.equal([]);
    expect(calls).to.be.greaterThan(20);
    const states = await nodeStates(b, installed.id);
    expect([states[a.id].version, states[b.id].version]).to.deep.equal(['1.2.0', '1.2.0']);
  });

  it('a limits change on B restarts the processes with them on A', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves');
    const updated = await b.call('PUT', `${PLUGINS}/${installed.id}/limits`, { body: { instances: 2 } });
    expect(updated.status, updated.text).to.equal(200);
    expect(updated.json.runtime.pids).to.have.length(2);
    await propagated(async () => (await plugin(a, installed.id)).runtime.pids.length === 2, 'A runs two instances');
    // The old process finishes its calls, then stops.
    expect(await eventually(async () => !isAlive(installed.runtime.pids[0])), 'the old process stopped').to.equal(true);
  });

  it('uninstall on B removes the processes and the files on every node', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves');
    const pids = Object.values(await nodeStates(a, installed.id)).flatMap((state: any) => state.pids);
    expect((await b.call('DELETE', `${PLUGINS}/${installed.id}?force=true`)).status).to.equal(204);
    const exists = (node: ClusterNode) => access(path.join(node.dataDir, 'plugins', installed.id)).then(() => true, () => false);
    await propagated(async () => !(await exists(a)) && pids.every((pid: number) => !isAlive(pid)), 'gone from A');
    expect(await exists(b)).to.equal(false);
    expect((await testFormat(a, 'demo')).status).to.equal(404);
  });

  it('a quarantine is the node\'s own: the other keeps serving and the plugin is not in error; enable clears it', async () => {
    const installed = await install(a, 'trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
    await propagated(async () => (await testFormat(b, 'trap', 'abc')).status === 200, 'B serves');
    // Traps inside calls are the callers' 502s and never count toward quarantine...
    for (let i = 0; i < 6; i++) expect((await testFormat(b, 'trap', 'TRAP')).status).to.equal(502);
    expect((await testFormat(b, 'trap', 'abc')).status).to.equal(200);
    // ...process deaths outside calls do.
    await crashOutsideCalls(b, installed.id);
    const quarantined = await eventually(async () => (await nodeStates(a, installed.id))[b.id]?.state === 'quarantined');
    expect(quarantined, 'B quarantined').to.equal(true);
    const shown = await plugin(a, installed.id);
    expect(shown.status).to.equal('active');
    expect(shown.nodes.find((state: any) => state.node_id === a.id).state).to.equal('running');
    expect((await testFormat(a, 'trap', 'abc')).status).to.equal(200);
    expect((await testFormat(b, 'trap', 'abc')).status).to.equal(503);
    const events = (await a.call('GET', `${PLUGINS}/${installed.id}/events?limit=50`)).json.items;
    expect(events.filter((e: any) => e.event_type === 'quarantined').map((e: any) => e.node_id)).to.deep.equal([b.id]);
    expect(events.find((e: any) => e.event_type === 'installed').node_id).to.equal(null);

    // Quarantined on every node: now nothing serves it, and the plugin shows error.
    await crashOutsideCalls(a, installed.id);
    const failed = await eventually(async () => (await plugin(b, installed.id)).status === 'error');
    expect(failed, 'status error once no node serves it').to.equal(true);
    expect((await plugin(b, installed.id)).error_message).to.contain('quarantined');
    expect((await b.call('GET', `${PLUGINS}?status=error`)).json.items.map((p: any) => p.id)).to.deep.equal([installed.id]);

    expect((await a.call('POST', `${PLUGINS}/${installed.id}/enable`)).status).to.equal(200);
    await propagated(async () => (await testFormat(b, 'trap', 'abc')).status === 200, 'B serves again after the enable');
    expect((await testFormat(a, 'trap', 'abc')).status).to.equal(200);
    expect((await plugin(a, installed.id)).status).to.equal('active');
  });

  it('a plugin installed on A with replace_core serves pypi on B; uninstalled on A, B serves the core handler again', async () => {
    const dir = await pluginFolder(cluster.localRoot, 'pypi-replacement', manifest('pypi-replacement', '1.0.0', 'pypi'), 'good-pypi');
    const refused = await a.call('POST', `${PLUGINS}/install/local`, { body: { path: dir } });
    expect(refused.status, refused.text).to.equal(409);
    expect(refused.json).to.include({ error: 'format_key_conflict', core_handler: 'pypi', flag: 'replace_core' });
    const answer = await a.call('POST', `${PLUGINS}/install/local`, { body: { path: dir, replace_core: true } });
    expect(answer.status, answer.text).to.equal(201);
    // The format test names the handler that ran (the core one refuses the demo artifact: 422).
    const servedBy = async (node: ClusterNode) => {
      const tested = await testFormat(node, 'pypi');
      return tested.json?.handler_type ?? `status ${tested.status} ${tested.text}`;
    };
    expect(await servedBy(a)).to.equal('wasm');
    await propagated(async () => (await servedBy(b)) === 'wasm', 'B serves pypi with the plugin');
    expect((await testFormat(b, 'pypi')).json.success).to.equal(true);
    expect((await b.call('GET', `${FORMATS}/pypi`)).json).to.include({ handler_type: 'wasm', plugin_id: answer.json.id, replaces_core: true, is_enabled: true });

    expect((await a.call('DELETE', `${PLUGINS}/${answer.json.id}`)).status).to.equal(204);
    expect(await servedBy(a)).to.equal('core');
    await propagated(async () => (await servedBy(b)) === 'core', 'B serves pypi with the core handler again');
    expect((await b.call('GET', `${FORMATS}/pypi`)).json).to.include({ handler_type: 'core', plugin_id: null, replaces_core: false, is_enabled: true });
  });

  it('a format disabled on A is not served by B; enabled again, B serves it', async () => {
    try {
      expect((await a.call('POST', `${FORMATS}/generic/disable`)).status).to.equal(200);
      await propagated(async () => (await testFormat(b, 'generic')).status === 503, 'B stops serving generic');
      expect((await a.call('POST', `${FORMATS}/generic/enable`)).status).to.equal(200);
      await propagated(async () => (await testFormat(b, 'generic')).status === 200, 'B serves generic again');
    } finally {
      await a.call('POST', `${FORMATS}/generic/enable`);
    }
  });

  it('a dropped notification connection is re-opened, and changes propagate again', async () => {
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      const schema = (await client.query('SELECT current_schema() AS s')).rows[0].s;
      const listeners = `SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%:${schema}"'`;
      expect((await client.query(listeners)).rowCount).to.equal(2);
      await client.query(`SELECT pg_terminate_backend(pid) FROM (${listeners}) AS l`);
      const back = await eventually(async () => (await client.query(listeners)).rowCount === 2, 10_000);
      expect(back, 'both nodes listen again').to.equal(true);
    } finally {
      await client.end();
    }
    await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves after the reconnection');
  });

  // Last: B stays stopped.
  it('a node that stops cleanly drops out of the plugin\'s nodes and leaves no rows behind', async () => {
    const installed = await install(a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await propagated(async () => (await testFormat(b, 'demo')).status === 200, 'B serves');
    const pidsOnB = (await plugin(b, installed.id)).runtime.pids;
    await b.stop();
    expect(pidsOnB.filter(isAlive)).to.deep.equal([]);
    expect((await plugin(a, installed.id)).nodes.map((state: any) => state.node_id)).to.deep.equal([a.id]);
    expect((await a.call('GET', `${PLUGINS}/${installed.id}/processes`)).json.items.map((p: any) => p.node_id)).to.deep.equal([a.id]);
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      for (const table of ['plugin_node_states', 'plugin_processes']) {
        expect((await client.query(`SELECT 1 FROM ${table} WHERE node_id = $1`, [b.id])).rowCount, table).to.equal(0);
      }
    } finally {
      await client.end();
    }
  });
});
