// The cluster_nodes queries, on SQLite and on PostgreSQL: the database's clock, take-over
// by a new incarnation, heartbeats that only the holding incarnation can record, pruning.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const fixture of [sqliteFixture(), postgresFixture()]) {
  describe(`cluster nodes in the store on ${fixture.engine}`, () => clusterNodeSuite(fixture));
}

function clusterNodeSuite(fixture: EngineFixture): void {
  let store: Store;

  before(async () => {
    store = await openStore(await fixture.create());
  });

  after(async () => {
    await store?.close();
    await fixture.dispose();
  });

  const node = (nodeId: string) => ({ node_id: nodeId, incarnation: randomUUID(), url: `http://${nodeId}:8080`, version: '1.2.3' });

  it("tells the database's time, in the store's timestamp format, to the millisecond", async () => {
    const first = await store.databaseTime();
    await delay(15);
    const second = await store.databaseTime();
    expect(first).to.match(RFC3339_UTC);
    expect(Date.parse(second) - Date.parse(first)).to.be.within(10, 5000);
    // The database runs on this machine: its clock is ours, within a little.
    expect(Math.abs(Date.parse(second) - Date.now())).to.be.below(2000);
  });

  it('registers a node up, started and seen by the database clock', async () => {
    const before = await store.databaseTime();
    const row = await store.putClusterNode(node('reg-a'));
    expect(row).to.include({ node_id: 'reg-a', url: 'http://reg-a:8080', version: '1.2.3', state: 'up' });
    expect(row.started_at).to.match(RFC3339_UTC);
    expect(row.started_at >= before).to.equal(true);
    expect(row.last_seen_at).to.equal(row.started_at);
    expect(await store.getClusterNode('reg-a')).to.deep.equal(row);
  });

  it('a new incarnation takes the row over; the old one can no longer beat or leave', async () => {
    const first = node('take-a');
    await store.putClusterNode(first);
    await store.markClusterNodeLeaving(first.node_id, first.incarnation);
    const second = { ...node('take-a'), url: null, version: '2.0.0' };
    const row = await store.putClusterNode(second);
    expect(row).to.include({ incarnation: second.incarnation, url: null, version: '2.0.0', state: 'up' });

    expect(await store.touchClusterNode('take-a', first.incarnation)).to.equal(false);
    expect(await store.markClusterNodeLeaving('take-a', first.incarnation)).to.equal(false);
    expect(await store.getClusterNode('take-a')).to.deep.equal(row);
  });

  it('a heartbeat moves last_seen_at on; leaving is recorded with the time', async () => {
    const mine = node('beat-a');
    const row = await store.putClusterNode(mine);
    await delay(20);
    expect(await store.touchClusterNode('beat-a', mine.incarnation)).to.equal(true);
    const beaten = (await store.getClusterNode('beat-a'))!;
    expect(beaten.last_seen_at > row.last_seen_at).to.equal(true);
    expect(beaten.started_at).to.equal(row.started_at);

    expect(await store.markClusterNodeLeaving('beat-a', mine.incarnation)).to.equal(true);
    expect((await store.getClusterNode('beat-a'))!.state).to.equal('leaving');
    expect(await store.touchClusterNode('no-such-node', mine.incarnation)).to.equal(false);
  });

  it('lists nodes by id and prunes those seen before a cutoff, never the one kept', async () => {
    for (const id of ['prune-b', 'prune-a', 'prune-c']) await store.putClusterNode(node(id));
    const ids = (await store.listClusterNodes()).map((row) => row.node_id);
    expect(ids.filter((id) => id.startsWith('prune-'))).to.deep.equal(['prune-a', 'prune-b', 'prune-c']);

    await delay(10);
    const cutoff = await store.databaseTime();
    await delay(10);
    const fresh = node('prune-b');
    await store.putClusterNode(fresh);
    const pruned = await store.deleteClusterNodesSeenBefore(cutoff, 'prune-c');
    expect(pruned).to.include('prune-a').and.not.include('prune-b').and.not.include('prune-c');
    const left = (await store.listClusterNodes()).map((row) => row.node_id);
    expect(left).to.include('prune-b').and.include('prune-c').and.not.include('prune-a');
  });
}
