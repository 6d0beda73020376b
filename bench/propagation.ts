/**
 * propagation: two supervisors on one PostgreSQL schema, in this process (the in-process
 * cluster of the tests); the periodic reconcile is set to 10 minutes, so only the change
 * announcements (LISTEN/NOTIFY) carry a change. 24 mutations made through node A (install,
 * reload, limits, disable, enable, uninstall, in turns): each figure is the time from A's
 * answer until B serves the new state, polled every 5 ms through B's API.
 *
 * Target (docs of the cluster contract): p99 < 2 s.
 */
import { startInProcessCluster, type ClusterNode } from '../test/e2e/cluster-nodes.js';
import { manifest, pluginFolder } from '../test/e2e/harness.js';
import { postgresFixture } from '../test/support/engines.js';
import { note, now, percentile, report, sleep } from './lib.js';

const ROUNDS = 4;

export async function run(): Promise<void> {
  const engine = postgresFixture();
  const cluster = await startInProcessCluster(engine, 2, { CLUSTER_RECONCILE_MS: '600000', CLUSTER_HEARTBEAT_MS: '500' });
  const [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
  const delays: number[] = [];
  const served = async (probe: () => Promise<boolean>) => {
    const started = now();
    for (;;) {
      if (await probe()) break;
      if (now() - started > 30_000) throw new Error('not propagated within 30 s');
      await sleep(5);
    }
    delays.push(now() - started);
  };
  const test = async () => (await b.call('POST', '/api/v1/formats/demo/test', { body: { path: 'a.demo', content: 'DEMO' } })).status;
  const onB = async (id: string) => (await b.call('GET', `/api/v1/plugins/${id}`)).json.runtime;
  const expectOk = async (answer: Promise<{ status: number; text: string }>, status = 200) => {
    const { status: got, text } = await answer;
    if (got !== status) throw new Error(`expected ${status}, got ${got}: ${text}`);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const dir = await pluginFolder(cluster.localRoot, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
      const installed = await a.call('POST', '/api/v1/plugins/install/local', { body: { path: dir } });
      if (installed.status !== 201) throw new Error(`install: ${installed.text}`);
      const id = installed.json.id;
      await served(async () => (await test()) === 200);

      await pluginFolder(cluster.localRoot, 'demo', manifest('demo-format', '1.1.0', 'demo'), 'good');
      await expectOk(a.call('POST', `/api/v1/plugins/${id}/reload`, { body: {} }));
      await served(async () => (await b.call('GET', `/api/v1/plugins/${id}`)).json.nodes.find((n: any) => n.node_id === b.id)?.version === '1.1.0' && (await test()) === 200);

      await expectOk(a.call('PUT', `/api/v1/plugins/${id}/limits`, { body: { instances: 2 } }));
      await served(async () => (await onB(id)).pids.length === 2);

      await expectOk(a.call('POST', `/api/v1/plugins/${id}/disable`));
      await served(async () => (await test()) === 503);

      await expectOk(a.call('POST', `/api/v1/plugins/${id}/enable`));
      await served(async () => (await test()) === 200);

      await expectOk(a.call('DELETE', `/api/v1/plugins/${id}?force=true`), 204);
      await served(async () => (await test()) === 404);
    }
    note(`propagation: ${delays.length} mutations through node A, observed on node B`);
    report({ bench: 'propagation', metric: 'propagation_p50', value: percentile(delays, 50), unit: 'ms' });
    report({ bench: 'propagation', metric: 'propagation_p99', value: percentile(delays, 99), unit: 'ms' });
    report({ bench: 'propagation', metric: 'propagation_max', value: Math.max(...delays), unit: 'ms' });
    note(`propagation target p99 < 2000 ms: ${percentile(delays, 99) < 2000 ? 'MET' : 'NOT MET'}`);
  } finally {
    await cluster.close();
    await engine.dispose();
  }
}
