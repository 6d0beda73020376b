// Plugin logs across two supervisor processes on one PostgreSQL schema: every node's lines are
// read through any node, numbered in one order, followed live, and kept after their node is gone.
import { expect } from 'chai';
import { stdoutLoggerComponent } from '../support/stdout-logger.js';
import { makeZip } from '../support/zips.js';
import { eventually, form, manifest } from '../e2e/harness.js';
import { startCluster, type Cluster, type NodeProcess } from './harness.js';

const PLUGINS = '/api/v1/plugins';

describe('cluster: plugin logs of every node through any node (two node processes)', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let a: NodeProcess;
  let b: NodeProcess;

  before(async () => {
    cluster = await startCluster();
    a = await cluster.start('a');
    b = await cluster.start('b');
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
  });
  after(async () => {
    await cluster?.close();
  });

  it("reads node a's lines through node b, follows them there, and keeps them once node a is gone", async () => {
    const wasm = await stdoutLoggerComponent('hello from a node\n', 2);
    const zip = makeZip([
      { name: 'pkg/plugin.toml', data: manifest('cluster-logger', '1.0.0', 'logger') },
      { name: 'pkg/plugin.wasm', data: Buffer.from(wasm) },
    ]);
    const installed = await a.call('POST', `${PLUGINS}/install/zip`, { body: form('file', zip, 'logger.zip') });
    expect(installed.status, installed.text).to.equal(201);
    const id = installed.json.id;
    const logsThrough = async (node: NodeProcess) => (await node.call('GET', `${PLUGINS}/${id}/logs?limit=1000`)).json.items as any[];
    // Each node runs the plugin and writes its own lines; b answers for both.
    const fromBoth = await eventually(async () => new Set((await logsThrough(b)).map((line) => line.node_id)).size === 2, 20_000);
    expect(fromBoth, 'lines of both nodes through b').to.equal(true);
    const lines = await logsThrough(b);
    expect(lines.map((line) => line.seq)).to.deep.equal(lines.map((_, i) => i + 1));
    expect(lines.filter((line) => line.node_id === 'a' && line.text === 'hello from a node')).to.have.length(2);
    expect(await logsThrough(a)).to.deep.equal(lines);

    // b's stream sees the lines a's replacement process prints.
    const abort = new AbortController();
    const stream = await fetch(`${b.url}${PLUGINS}/${id}/logs/stream`, {
      headers: { authorization: `Bearer ${cluster.adminToken}` },
      signal: abort.signal,
    });
    expect(stream.status).to.equal(200);
    const reader = stream.body!.getReader();
    await reader.read(); // the opening comment: following from the newest line on
    const [pidOnA] = (await a.call('GET', `${PLUGINS}/${id}`)).json.runtime.pids;
    process.kill(pidOnA, 'SIGKILL');
    let text = '';
    const deadline = Date.now() + 20_000;
    while ((text.match(/"node_id":"a","pid":\d+,"version":"1.0.0","stream":"stdout","text":"hello from a node"/g) ?? []).length < 2 && Date.now() < deadline) {
      text += new TextDecoder().decode((await reader.read()).value);
    }
    abort.abort();
    expect(text).to.match(/"node_id":"a","pid":\d+,"version":"1.0.0","stream":"host","text":"crashed: /);
    expect((text.match(/"node_id":"a","pid":\d+,"version":"1.0.0","stream":"stdout","text":"hello from a node"/g) ?? []).length).to.equal(2);

    // Node a dies: its lines stay readable through b (node_id is plain text, not a cascade).
    const before = (await logsThrough(b)).filter((line) => line.node_id === 'a');
    await a.kill('SIGKILL');
    expect((await logsThrough(b)).filter((line) => line.node_id === 'a')).to.deep.equal(before);
  });
});
