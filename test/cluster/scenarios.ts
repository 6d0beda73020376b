// The desired state across nodes: a mutation made through any node takes effect on every
// other one, each node's failures stay its own. The scenarios (mocha `it`s) are written
// against a list of nodes, so they run on whatever started them; reconcile.test.ts runs them
// on supervisor processes (the cluster harness) with the periodic pass set to 10 minutes, so
// only the change announcements (LISTEN/NOTIFY) can make them pass.
import { expect } from 'chai';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { eventually, manifest, pluginFolder } from '../e2e/harness.js';
import { isRunning } from '../support/assertions.js';
import { fixedRateClient } from '../support/fixed-rate.js';
import type { Answer, CallOptions } from '../support/http.js';

export interface ScenarioNode {
  readonly nodeId: string;
  readonly url: string;
  readonly dataDir: string;
  /** A request to this node, as the admin. */
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
}

export interface ScenarioCluster {
  /** At least two, all up. */
  readonly nodes: ScenarioNode[];
  /** The one folder local installs may read (PLUGINS_LOCAL_ROOTS), the same for every node. */
  readonly localRoot: string;
}

export const PLUGINS = '/api/v1/plugins';
export const FORMATS = '/api/v1/formats';
/** How long a change may take to reach every other node here: the contract's target is p99 < 2 s; the slack is for two cores shared by parallel test runs. */
export const PROPAGATION_BOUND_MS = 10_000;

/** `POST /formats/:key/test` on `node` with a small artifact the demo fixtures accept. */
export const testFormat = (node: Pick<ScenarioNode, 'call'>, key: string, content = 'DEMO artifact') =>
  node.call('POST', `${FORMATS}/${key}/test`, { body: { path: 'dir/a.demo', content } });

/** Installs the plugin folder `folder` (written from `toml` and a fixture) through `node`; the 201 answer. */
export async function install(cluster: ScenarioCluster, node: ScenarioNode, folder: string, toml: string, wasm: Parameters<typeof pluginFolder>[3]): Promise<any> {
  const dir = await pluginFolder(cluster.localRoot, folder, toml, wasm);
  const answer = await node.call('POST', `${PLUGINS}/install/local`, { body: { path: dir } });
  expect(answer.status, answer.text).to.equal(201);
  return answer.json;
}

export const plugin = async (node: ScenarioNode, id: string) => (await node.call('GET', `${PLUGINS}/${id}`)).json;

/** The plugin's `nodes[]` as `viewer` shows them, by node id. */
export const nodeStates = async (viewer: ScenarioNode, id: string): Promise<Record<string, any>> =>
  Object.fromEntries((await plugin(viewer, id)).nodes.map((state: any) => [state.node_id, state]));

/** The plugin's process ids per node, from `GET /plugins/:id/processes` on `viewer`. */
export async function pidsByNode(viewer: ScenarioNode, id: string): Promise<Record<string, number[]>> {
  const byNode: Record<string, number[]> = {};
  for (const item of (await viewer.call('GET', `${PLUGINS}/${id}/processes`)).json.items) if (item.pid !== null) (byNode[item.node_id] ??= []).push(item.pid);
  return byNode;
}

/**
 * The plugin's process ids on each of `nodes`, once `viewer` lists `count` for every one of
 * them (a node serves a version a little before its heartbeat writes its process rows).
 */
export async function processesOnEveryNode(viewer: ScenarioNode, id: string, nodes: ScenarioNode[], count = 1): Promise<Record<string, number[]>> {
  let byNode: Record<string, number[]> = {};
  const listed = await eventually(async () => {
    byNode = await pidsByNode(viewer, id);
    return nodes.every((node) => byNode[node.nodeId]?.length === count);
  }, PROPAGATION_BOUND_MS);
  expect(listed, `${count} process(es) of every node listed: ${JSON.stringify(byNode)}`).to.equal(true);
  return byNode;
}

/** Waits until `probe` holds for every node of `nodes` (checked one after another). */
export async function everyNode(nodes: ScenarioNode[], probe: (node: ScenarioNode) => Promise<boolean>, what: string, ms = PROPAGATION_BOUND_MS): Promise<void> {
  const started = Date.now();
  for (const node of nodes) {
    const held = await eventually(() => probe(node), Math.max(0, ms - (Date.now() - started)));
    expect(held, `${what} on ${node.nodeId} within ${ms} ms`).to.equal(true);
  }
}

/** A node's state item says it runs `version` (not still starting it). */
export const isRunningVersion = (state: any, version: string) => state?.version === version && state.state === 'running';

export const noneRunning = async (pids: number[]) => (await Promise.all(pids.map(isRunning))).every((running) => !running);

/** SIGKILLs the node's idle process of the plugin five times, each once its replacement is up: deaths outside calls. */
export async function crashOutsideCalls(node: ScenarioNode, id: string): Promise<void> {
  let pid: number | undefined;
  for (let i = 0; i < 5; i++) {
    const previous = pid;
    const restarted = await eventually(async () => {
      pid = (await plugin(node, id)).runtime.pids[0] ?? previous;
      return pid !== previous;
    }, 10_000);
    expect(restarted, `a new process on ${node.nodeId}`).to.equal(true);
    process.kill(pid!, 'SIGKILL');
  }
}

/** Registers the scenarios; `cluster()` gives the running cluster of the current test. */
export function desiredStateScenarios(cluster: () => ScenarioCluster): void {
  const nodes = () => cluster().nodes;
  const first = () => nodes()[0]!;
  const second = () => nodes()[1]!;
  const others = (node: ScenarioNode) => nodes().filter((other) => other !== node);
  const installDemo = (node: ScenarioNode, version = '1.0.0') => install(cluster(), node, 'demo', manifest('demo-format', version, 'demo'), 'good');
  const servedEverywhere = (key: string, what: string) => everyNode(nodes(), async (node) => (await testFormat(node, key)).status === 200, what);

  afterEach(async () => {
    for (const item of (await first().call('GET', `${PLUGINS}?per_page=100`)).json.items) {
      expect((await first().call('DELETE', `${PLUGINS}/${item.id}?force=true`)).status).to.equal(204);
    }
  });

  it('install on A: every other node serves it from the stored component, and the plugin shows every node running', async () => {
    const a = first();
    const installed = await installDemo(a);
    await everyNode(others(a), async (node) => (await testFormat(node, 'demo')).status === 200, 'the new format served');
    // Each node records its state right after it starts serving.
    await everyNode(nodes(), async (node) => isRunningVersion((await nodeStates(second(), installed.id))[node.nodeId], '1.0.0'), 'shown running');
    const states = await nodeStates(second(), installed.id);
    expect(Object.keys(states).sort()).to.deep.equal(nodes().map((node) => node.nodeId).sort());
    for (const state of Object.values(states)) {
      expect(state).to.include({ version: '1.0.0', state: 'running', error_message: null });
      expect(state.pids).to.have.length(1);
    }
    // The others' copy is the stored component, not A's folder.
    for (const node of others(a)) await access(path.join(node.dataDir, 'plugins', installed.id));
    // Every node's processes, from any node.
    await processesOnEveryNode(second(), installed.id, nodes());
  });

  it("disable on B stops every node's processes; enable on B starts them again", async () => {
    const [a, b] = [first(), second()];
    const installed = await installDemo(a);
    await servedEverywhere('demo', 'served');
    const pids = Object.values(await processesOnEveryNode(a, installed.id, nodes())).flat();
    expect((await b.call('POST', `${PLUGINS}/${installed.id}/disable`)).status).to.equal(200);
    expect(await eventually(() => noneRunning(pids), PROPAGATION_BOUND_MS), 'every process stopped').to.equal(true);
    for (const node of nodes()) expect((await testFormat(node, 'demo')).status, node.nodeId).to.equal(503);
    const enabled = await b.call('POST', `${PLUGINS}/${installed.id}/enable`);
    expect(enabled.status, enabled.text).to.equal(200);
    await servedEverywhere('demo', 'served again');
  });

  it('reloads made through each node in turn while a client calls every node at a fixed rate: no call fails, all end on the last version', async () => {
    const installed = await installDemo(first());
    await servedEverywhere('demo', 'served');
    // 50 calls a second, spread over every node.
    const client = fixedRateClient(nodes(), 20, (node) => testFormat(node, 'demo'));
    let version = '';
    for (const [i, node] of nodes().entries()) {
      version = `1.${i + 1}.0`;
      await pluginFolder(cluster().localRoot, 'demo', manifest('demo-format', version, 'demo'), 'good');
      const reloaded = await node.call('POST', `${PLUGINS}/${installed.id}/reload`, { body: {} });
      expect(reloaded.status, reloaded.text).to.equal(200);
      expect(reloaded.json.version).to.equal(version);
      await everyNode(nodes(), async (viewer) => isRunningVersion((await nodeStates(viewer, installed.id))[viewer.nodeId], version), `${version} running`);
    }
    const { sent, failures } = await client.stop();
    expect(failures).to.deep.equal([]);
    expect(sent).to.be.greaterThan(20);
    const states = await nodeStates(second(), installed.id);
    expect(Object.values(states).map((state) => [state.version, state.state])).to.deep.equal(nodes().map(() => [version, 'running']));
  });

  it('a limits change on B restarts the processes with them on every node', async () => {
    const [a, b] = [first(), second()];
    const installed = await installDemo(a);
    await servedEverywhere('demo', 'served');
    const before = Object.values(await processesOnEveryNode(b, installed.id, nodes())).flat();
    const updated = await b.call('PUT', `${PLUGINS}/${installed.id}/limits`, { body: { instances: 2 } });
    expect(updated.status, updated.text).to.equal(200);
    expect(updated.json.runtime.pids).to.have.length(2);
    await everyNode(others(b), async (node) => (await plugin(node, installed.id)).runtime.pids.length === 2, 'two instances');
    // The old processes finish their calls, then stop.
    expect(await eventually(() => noneRunning(before), PROPAGATION_BOUND_MS), 'the old processes stopped').to.equal(true);
  });

  it('uninstall on B removes the processes and the files on every node', async () => {
    const [a, b] = [first(), second()];
    const installed = await installDemo(a);
    await servedEverywhere('demo', 'served');
    const pids = Object.values(await processesOnEveryNode(a, installed.id, nodes())).flat();
    expect((await b.call('DELETE', `${PLUGINS}/${installed.id}?force=true`)).status).to.equal(204);
    const folderLeft = (node: ScenarioNode) => access(path.join(node.dataDir, 'plugins', installed.id)).then(() => true, () => false);
    await everyNode(nodes(), async (node) => !(await folderLeft(node)) && (await testFormat(node, 'demo')).status === 404, 'folder and format gone');
    expect(await eventually(() => noneRunning(pids), PROPAGATION_BOUND_MS), 'every process stopped').to.equal(true);
  });

  it("a quarantine is the node's own: the others keep serving and the plugin is not in error; enable clears it", async () => {
    const [a, b] = [first(), second()];
    const installed = await install(cluster(), a, 'trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
    await everyNode(nodes(), async (node) => (await testFormat(node, 'trap', 'abc')).status === 200, 'served');
    // Traps inside calls are the callers' 502s and never count toward quarantine...
    for (let i = 0; i < 6; i++) expect((await testFormat(b, 'trap', 'TRAP')).status).to.equal(502);
    expect((await testFormat(b, 'trap', 'abc')).status).to.equal(200);
    // ...process deaths outside calls do.
    await crashOutsideCalls(b, installed.id);
    const quarantined = await eventually(async () => (await nodeStates(a, installed.id))[b.nodeId]?.state === 'quarantined');
    expect(quarantined, 'B quarantined').to.equal(true);
    const shown = await plugin(a, installed.id);
    expect(shown.status).to.equal('active');
    for (const node of others(b)) {
      expect(shown.nodes.find((state: any) => state.node_id === node.nodeId).state).to.equal('running');
      expect((await testFormat(node, 'trap', 'abc')).status).to.equal(200);
    }
    expect((await testFormat(b, 'trap', 'abc')).status).to.equal(503);
    const events = (await a.call('GET', `${PLUGINS}/${installed.id}/events?limit=50`)).json.items;
    expect(events.filter((e: any) => e.event_type === 'quarantined').map((e: any) => e.node_id)).to.deep.equal([b.nodeId]);
    expect(events.find((e: any) => e.event_type === 'installed').node_id).to.equal(null);

    // Quarantined on every node: now nothing serves it, and the plugin shows error.
    for (const node of others(b)) await crashOutsideCalls(node, installed.id);
    const failed = await eventually(async () => (await plugin(b, installed.id)).status === 'error');
    expect(failed, 'status error once no node serves it').to.equal(true);
    expect((await plugin(b, installed.id)).error_message).to.contain('quarantined');
    expect((await b.call('GET', `${PLUGINS}?status=error`)).json.items.map((p: any) => p.id)).to.deep.equal([installed.id]);

    expect((await a.call('POST', `${PLUGINS}/${installed.id}/enable`)).status).to.equal(200);
    await everyNode(nodes(), async (node) => (await testFormat(node, 'trap', 'abc')).status === 200, 'served again after the enable');
    expect((await plugin(a, installed.id)).status).to.equal('active');
  });

  it('a plugin installed on A with replace_core serves pypi on every node; uninstalled on A, every node serves the core handler again', async () => {
    const a = first();
    const dir = await pluginFolder(cluster().localRoot, 'pypi-replacement', manifest('pypi-replacement', '1.0.0', 'pypi'), 'good-pypi');
    const refused = await a.call('POST', `${PLUGINS}/install/local`, { body: { path: dir } });
    expect(refused.status, refused.text).to.equal(409);
    expect(refused.json).to.include({ error: 'format_key_conflict', core_handler: 'pypi', flag: 'replace_core' });
    const answer = await a.call('POST', `${PLUGINS}/install/local`, { body: { path: dir, replace_core: true } });
    expect(answer.status, answer.text).to.equal(201);
    // The format test names the handler that ran (the core one refuses the demo artifact: 422).
    const servedBy = async (node: ScenarioNode) => (await testFormat(node, 'pypi')).json?.handler_type;
    await everyNode(nodes(), async (node) => (await servedBy(node)) === 'wasm', 'pypi served by the plugin');
    for (const node of others(a)) {
      expect((await node.call('GET', `${FORMATS}/pypi`)).json).to.include({ handler_type: 'wasm', plugin_id: answer.json.id, replaces_core: true, is_enabled: true });
    }
    expect((await a.call('DELETE', `${PLUGINS}/${answer.json.id}`)).status).to.equal(204);
    await everyNode(nodes(), async (node) => (await servedBy(node)) === 'core', 'pypi served by the core handler again');
    expect((await second().call('GET', `${FORMATS}/pypi`)).json).to.include({ handler_type: 'core', plugin_id: null, replaces_core: false, is_enabled: true });
  });

  it('a format disabled on A is not served by the others; enabled again, they serve it', async () => {
    const a = first();
    try {
      expect((await a.call('POST', `${FORMATS}/generic/disable`)).status).to.equal(200);
      await everyNode(others(a), async (node) => (await testFormat(node, 'generic')).status === 503, 'generic no longer served');
      expect((await a.call('POST', `${FORMATS}/generic/enable`)).status).to.equal(200);
      await everyNode(others(a), async (node) => (await testFormat(node, 'generic')).status === 200, 'generic served again');
    } finally {
      await a.call('POST', `${FORMATS}/generic/enable`);
    }
  });
}
