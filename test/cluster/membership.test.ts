// A node's membership over a real store (SQLite and PostgreSQL): registration, heartbeats,
// lost and leaving derived by the database's clock, take-over, a NODE_ID shared by two
// live processes, pruning.
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import pino from 'pino';
import { NodeMembership } from '../../supervisor/cluster/nodes.js';
import type { Config } from '../../supervisor/config.js';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';

const HEARTBEAT_MS = 100;
const TIMEOUT_MS = 600;

for (const fixture of [sqliteFixture(), postgresFixture()]) {
  describe(`node membership on ${fixture.engine}`, function () {
    this.timeout(20_000);
    membershipSuite(fixture);
  });
}

function membershipSuite(fixture: EngineFixture): void {
  let store: Store;
  const started: NodeMembership[] = [];
  const logLines: Array<Record<string, any>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });

  before(async () => {
    store = await openStore(await fixture.create());
  });
  after(async () => {
    await store?.close();
    await fixture.dispose();
  });
  beforeEach(async () => {
    logLines.length = 0;
    await removeEveryNode();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((node) => node.stop()));
  });

  const member = (nodeId: string, options: { onFatal?: (error: Error) => void; pruneAfterMs?: number } = {}) => {
    const settings: Config['cluster'] = {
      nodeId,
      nodeUrl: `http://${nodeId}.test:8080`,
      heartbeatMs: HEARTBEAT_MS,
      nodeTimeoutMs: TIMEOUT_MS,
      pruneAfterMs: options.pruneAfterMs ?? 60_000,
      reconcileMs: 60_000,
    };
    const node = new NodeMembership({ store, settings, version: '9.9.9', logger, onFatal: options.onFatal ?? (() => expect.fail('unexpected fatal')) });
    started.push(node);
    return node;
  };
  /** Every row is seen before year 9999, and no node id is empty. */
  const removeEveryNode = () => store.deleteClusterNodesSeenBefore('9999', '');
  const stateOf = async (viewer: NodeMembership, nodeId: string) => (await viewer.nodes()).find((node) => node.node_id === nodeId)?.state;

  it('two nodes see each other up, with their url, version and plugin counts', async () => {
    const a = member('a');
    const b = member('b');
    await a.join();
    await b.join();
    const nodes = await a.nodes();
    expect(nodes.map((node) => [node.node_id, node.state, node.url, node.version])).to.deep.equal([
      ['a', 'up', 'http://a.test:8080', '9.9.9'],
      ['b', 'up', 'http://b.test:8080', '9.9.9'],
    ]);
    expect(nodes[0]!.plugins).to.deep.equal({ running: 0, error: 0 });
    expect(await a.health()).to.deep.equal({ ok: true, nodes_up: 2, nodes_lost: 0 });
  });

  it('heartbeats keep a node up past the timeout; a node that stops beating is lost after it', async () => {
    const a = member('a');
    const b = member('b');
    await a.join();
    await b.join();
    await delay(TIMEOUT_MS * 1.5);
    expect(await stateOf(a, 'b')).to.equal('up');
    await b.stop();
    const stoppedAt = Date.now();
    while ((await stateOf(a, 'b')) === 'up') await delay(20);
    expect(await stateOf(a, 'b')).to.equal('lost');
    expect(Date.now() - stoppedAt).to.be.within(TIMEOUT_MS - HEARTBEAT_MS - 50, TIMEOUT_MS + 1500);
    expect(await a.health()).to.deep.equal({ ok: true, nodes_up: 1, nodes_lost: 1 });
    // Its own view: its heartbeat is stale.
    expect((await b.health()).ok).to.equal(false);
  });

  it('a node that leaves is leaving, not lost, and beats no more', async () => {
    const a = member('a');
    const b = member('b');
    await a.join();
    await b.join();
    await b.leave();
    expect(await stateOf(a, 'b')).to.equal('leaving');
    const seen = (await store.getClusterNode('b'))!.last_seen_at;
    await delay(TIMEOUT_MS + 200);
    expect(await stateOf(a, 'b')).to.equal('leaving');
    expect((await store.getClusterNode('b'))!.last_seen_at).to.equal(seen);
  });

  it('a restart takes the row over at once; the older process, still running, is told to stop', async () => {
    const fatal: Error[] = [];
    const old = member('same', { onFatal: (error) => fatal.push(error) });
    await old.join();
    const fresh = member('same');
    await fresh.join();
    expect(await stateOf(fresh, 'same')).to.equal('up');
    expect((await store.getClusterNode('same'))!.incarnation).to.equal(fresh.incarnation);
    const until = Date.now() + 2000;
    while (fatal.length === 0 && Date.now() < until) await delay(20);
    expect(fatal).to.have.length(1);
    expect(fatal[0]!.message).to.contain('two nodes share one id "same"').and.contain(old.incarnation).and.contain(fresh.incarnation);
    const line = logLines.find((entry) => entry.level === 50 && String(entry.msg).includes('two nodes share one id'));
    expect(line, 'the error line').to.include({ node_id: 'same', incarnation: old.incarnation, other_incarnation: fresh.incarnation });
    expect(logLines.some((entry) => entry.msg === 'took over the row of this node id from an earlier incarnation' && entry.previous_incarnation === old.incarnation)).to.equal(true);
    // The old one stopped beating and cannot write over the new one's row.
    await old.leave();
    expect((await store.getClusterNode('same'))!.state).to.equal('up');
    await delay(HEARTBEAT_MS * 3);
    expect(fatal).to.have.length(1);
  });

  it('live nodes prune rows not seen for long, and re-register their own row if it was pruned', async () => {
    const gone = member('gone');
    await gone.join();
    await gone.stop();
    const a = member('a', { pruneAfterMs: TIMEOUT_MS * 2 });
    await a.join();
    const until = Date.now() + TIMEOUT_MS * 2 + 2000;
    while ((await store.getClusterNode('gone')) && Date.now() < until) await delay(50);
    expect(await store.getClusterNode('gone')).to.equal(undefined);
    expect(logLines.some((entry) => entry.msg === 'removed nodes not seen for long' && entry.node_ids.includes('gone'))).to.equal(true);

    await removeEveryNode();
    await delay(HEARTBEAT_MS * 3);
    expect((await store.getClusterNode('a'))?.incarnation).to.equal(a.incarnation);
  });
}
