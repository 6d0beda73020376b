// The desired state across supervisor processes (the cluster harness: `node
// dist/supervisor/main.js` children on one PostgreSQL schema). The periodic pass is set to
// 10 minutes, so only the change announcements (LISTEN/NOTIFY on a channel of the schema)
// and a node's own start can carry a change: install, disable, reloads through every node
// under a fixed-rate client, limits, uninstall, quarantine and formats (./scenarios.ts); a
// notification connection terminated by the database; a node stopping cleanly; a node
// killed with SIGKILL while the others serve on, catching up when it comes back; every node
// restarted in turn behind a balancer that probes /ready (an upgrade), no call failing.
import { expect } from 'chai';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { eventually, manifest, pluginFolder } from '../e2e/harness.js';
import { ProbingBalancer } from '../support/balancer.js';
import { fixedRateClient } from '../support/fixed-rate.js';
import { startCluster, TEST_NODE_TIMEOUT_MS, type Cluster, type NodeProcess } from './harness.js';
import {
  desiredStateScenarios,
  everyNode,
  install,
  noneRunning,
  nodeStates,
  pidsByNode,
  processesOnEveryNode,
  plugin,
  PLUGINS,
  testFormat,
  type ScenarioCluster,
} from './scenarios.js';

/** The contract's propagation target (p99): a change announced reaches every node within it. */
const PROPAGATION_TARGET_MS = 2000;
const NOTIFY_ONLY = { CLUSTER_RECONCILE_MS: '600000' };

/** Queries on the cluster's schema (the harness's database URL names it). */
async function withDatabase<T>(cluster: Cluster, work: (client: pg.Client, schema: string) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: cluster.databaseUrl });
  await client.connect();
  try {
    const schema = (await client.query('SELECT current_schema() AS s')).rows[0].s as string;
    return await work(client, schema);
  } finally {
    await client.end();
  }
}

describe('cluster: desired state on three node processes (announcements only)', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let nodes: NodeProcess[];

  before(async () => {
    cluster = await startCluster(NOTIFY_ONLY);
    nodes = [await cluster.start('a'), await cluster.start('b'), await cluster.start('c')];
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
  });
  after(async () => {
    await cluster?.close();
  });

  const view = (): ScenarioCluster => ({ nodes: nodes.filter((node) => node.running), localRoot: cluster.localRoot });
  desiredStateScenarios(view);

  it("notification connections terminated by the database are re-opened without a restart, and the next change reaches every node within the target", async () => {
    await withDatabase(cluster, async (client, schema) => {
      // Each node's LISTEN connection, on its schema's channel (other test runs' are not ours).
      const listeners = `SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%:${schema}"'`;
      expect((await client.query(listeners)).rowCount).to.equal(nodes.length);
      const terminated = await client.query(`SELECT pg_terminate_backend(pid) AS done FROM (${listeners}) AS l`);
      expect(terminated.rows.map((row) => row.done)).to.deep.equal(nodes.map(() => true));
      const back = await eventually(async () => (await client.query(listeners)).rowCount === nodes.length, 10_000);
      expect(back, 'every node listens again').to.equal(true);
    });
    for (const node of nodes) expect(node.running, `${node.nodeId} still the same process`).to.equal(true);
    const [a, ...others] = nodes;
    await install(view(), a!, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    // Not the periodic pass (10 minutes): the announcement on the new connections.
    await everyNode(others, async (node) => (await testFormat(node, 'demo')).status === 200, 'served after the reconnection', PROPAGATION_TARGET_MS);
  });

  // Last: C stays stopped.
  it("a node that stops cleanly (SIGTERM) drops out of the plugin's nodes, stops its processes and leaves no rows behind", async () => {
    const [a, , c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const installed = await install(view(), a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await everyNode(nodes, async (node) => (await testFormat(node, 'demo')).status === 200, 'served');
    const pidsOnC = (await processesOnEveryNode(a, installed.id, nodes))[c.nodeId]!;
    expect(await c.kill('SIGTERM')).to.deep.equal({ code: 0, signal: null });
    expect(await noneRunning(pidsOnC), "C's plugin processes stopped").to.equal(true);
    expect(Object.keys(await nodeStates(a, installed.id)).sort()).to.deep.equal(['a', 'b']);
    expect(Object.keys(await pidsByNode(a, installed.id)).sort()).to.deep.equal(['a', 'b']);
    await withDatabase(cluster, async (client) => {
      for (const table of ['plugin_node_states', 'plugin_processes']) {
        expect((await client.query(`SELECT 1 FROM ${table} WHERE node_id = $1`, [c.nodeId])).rowCount, table).to.equal(0);
      }
    });
  });
});

describe('cluster: a node killed with SIGKILL (processes)', function () {
  this.timeout(120_000);
  let cluster: Cluster;

  beforeEach(async () => {
    cluster = await startCluster(NOTIFY_ONLY);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
    await cluster.close();
  });

  it('B keeps serving with no failed call, A is lost and its plugin processes gone; restarted, A catches up on a reload, a limits change and an uninstall made meanwhile', async () => {
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    const view: ScenarioCluster = { nodes: [a, b], localRoot: cluster.localRoot };
    const kept = await install(view, a, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    const dropped = await install(view, a, 'trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
    await everyNode([b], async (node) => (await testFormat(node, 'demo')).status === 200 && (await testFormat(node, 'trap')).status === 200, 'both served');
    const pidsOnA = [...(await processesOnEveryNode(b, kept.id, [a])).a!, ...(await processesOnEveryNode(b, dropped.id, [a])).a!];

    // 50 calls a second to B from before the kill until A is back.
    const client = fixedRateClient([b], 20, (node) => testFormat(node, 'demo'));
    await a.kill('SIGKILL');
    const lost = await eventually(async () => (await b.call('GET', '/api/v1/cluster/nodes')).json.items.find((node: any) => node.node_id === 'a').state === 'lost', TEST_NODE_TIMEOUT_MS + 3000);
    expect(lost, 'A lost').to.equal(true);
    expect(await eventually(() => noneRunning(pidsOnA)), "no plugin process of the killed A left").to.equal(true);
    // A lost node is not among the plugin's nodes.
    expect(Object.keys(await nodeStates(b, kept.id))).to.deep.equal(['b']);

    // Changes while A is down, through B.
    await pluginFolder(cluster.localRoot, 'demo', manifest('demo-format', '1.1.0', 'demo'), 'good');
    const reloaded = await b.call('POST', `${PLUGINS}/${kept.id}/reload`, { body: {} });
    expect(reloaded.status, reloaded.text).to.equal(200);
    const limited = await b.call('PUT', `${PLUGINS}/${kept.id}/limits`, { body: { instances: 2 } });
    expect(limited.status, limited.text).to.equal(200);
    expect((await b.call('DELETE', `${PLUGINS}/${dropped.id}?force=true`)).status).to.equal(204);

    await a.restart();
    const ready = await eventually(async () => (await a.call('GET', '/ready', { anonymous: true })).status === 200, 20_000);
    expect(ready, 'A ready again').to.equal(true);
    const { sent, failures } = await client.stop();
    expect(failures, 'calls to B').to.deep.equal([]);
    expect(sent).to.be.greaterThan(50);

    // A serves what the database says, without an operator.
    const onA = await plugin(a, kept.id);
    expect(onA.version).to.equal('1.1.0');
    expect(onA.runtime).to.include({ state: 'running', instances: 2 });
    expect(onA.runtime.pids).to.have.length(2);
    expect(onA.nodes.map((state: any) => [state.node_id, state.version, state.state])).to.deep.equal([
      ['a', '1.1.0', 'running'],
      ['b', '1.1.0', 'running'],
    ]);
    expect((await testFormat(a, 'demo')).status).to.equal(200);
    expect((await testFormat(a, 'trap')).status).to.equal(404);
    const otherFolder = await access(path.join(a.dataDir, 'plugins', dropped.id)).then(() => 'left', () => 'gone');
    expect(otherFolder, "the uninstalled plugin's folder on A").to.equal('gone');
    expect((await a.call('GET', '/api/v1/cluster/nodes')).json.items.map((node: any) => [node.node_id, node.state])).to.deep.equal([
      ['a', 'up'],
      ['b', 'up'],
    ]);
  });
});

describe('cluster: nodes restarted one at a time behind a balancer probing /ready (an upgrade)', function () {
  this.timeout(120_000);
  let cluster: Cluster;

  before(async () => {
    // Longer than the balancer's probe interval: it stops sending before the node stops listening.
    cluster = await startCluster({ ...NOTIFY_ONLY, SHUTDOWN_GRACE_MS: '600' });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
  });
  after(async () => {
    await cluster?.close();
  });

  it('every node stopped (SIGTERM) and started again in turn while a client calls through the balancer: no call fails, each comes back serving', async () => {
    const nodes = [await cluster.start('a'), await cluster.start('b'), await cluster.start('c')];
    const installed = await install({ nodes, localRoot: cluster.localRoot }, nodes[0]!, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
    await everyNode(nodes, async (node) => (await testFormat(node, 'demo')).status === 200, 'served');
    const startedBefore = (await nodes[0]!.call('GET', '/api/v1/cluster/nodes')).json.items.map((node: any) => node.started_at);

    const balancer = new ProbingBalancer(nodes, 100);
    await balancer.started;
    const client = fixedRateClient([balancer], 20, (target) => testFormat(target, 'demo'));
    try {
      for (const node of nodes) {
        await node.restart();
        const back = await eventually(async () => (await node.call('GET', '/ready', { anonymous: true })).status === 200, 20_000);
        expect(back, `${node.nodeId} ready again`).to.equal(true);
        // The balancer has seen it ready before the next one stops.
        await delay(500);
      }
    } finally {
      const { sent, failures } = await client.stop();
      await balancer.close();
      expect(failures).to.deep.equal([]);
      expect(sent).to.be.greaterThan(50);
    }
    const listed = (await nodes[0]!.call('GET', '/api/v1/cluster/nodes')).json.items;
    expect(listed.map((node: any) => node.state)).to.deep.equal(['up', 'up', 'up']);
    listed.forEach((node: any, i: number) => expect(node.started_at > startedBefore[i], `${node.node_id} started again`).to.equal(true));
    expect(Object.values(await nodeStates(nodes[1]!, installed.id)).map((state) => state.state)).to.deep.equal(['running', 'running', 'running']);
  });
});
