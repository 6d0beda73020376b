// Blobs and indexes with two or more supervisors on one database and one blob store: the
// scenarios, written against a list of nodes (`{url, call}`) so that they run on whatever
// started them: blobs.test.ts runs them on supervisor processes (the cluster harness).
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { tarGz } from '../formats/core/artifacts.js';
import type { Answer, CallOptions } from '../support/http.js';

export interface ClusterNode {
  readonly url: string;
  /** A request to this node, as the admin. */
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
}

export interface Cluster {
  /** At least two. */
  readonly nodes: ClusterNode[];
  /** The names of the blobs in the shared blob store, sorted. */
  storedBlobs(): Promise<string[]>;
  /** Staging files any node left behind. */
  stagingLeft(): Promise<string[]>;
}

const REPOS = '/api/v1/repositories';
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const integrity = (data: Uint8Array) => `sha256-${createHash('sha256').update(data).digest('base64')}`;
const npmTarball = (name: string, version: string) => tarGz({ 'package/package.json': JSON.stringify({ name, version }), 'package/salt': randomBytes(8).toString('hex') });

function expectStatus(answer: Answer, status: number): Answer {
  expect(answer.status, answer.text).to.equal(status);
  return answer;
}

/** Registers the scenarios (mocha `it`s); `cluster()` gives the running cluster of the current test. */
export function clusterBlobScenarios(cluster: () => Cluster): void {
  const node = (index: number) => cluster().nodes[index % cluster().nodes.length]!;
  const createRepository = async (key: string, format: string, isPublic = false) => expectStatus(await node(0).call('POST', REPOS, { body: { key, format, public: isPublic } }), 201);

  afterEach(async function () {
    // Whatever a test left, deleting its repositories (on the second node) frees every blob, on every node's view.
    for (const repository of (await node(0).call('GET', REPOS)).json.items) expectStatus(await node(1).call('DELETE', `${REPOS}/${repository.key}`), 204);
    expect(await cluster().storedBlobs()).to.deep.equal([]);
    expect(await cluster().stagingLeft()).to.deep.equal([]);
  });

  it('serves on one node what was uploaded on another: download, index, delete', async () => {
    // Public: its bytes can be fetched anonymously, as bytes (`call` reads answers as text).
    await createRepository('shared', 'npm', true);
    const tarball = await npmTarball('left-pad', '1.0.0');
    const url = `${REPOS}/shared/artifacts/left-pad/-/left-pad-1.0.0.tgz`;
    expectStatus(await node(0).call('PUT', url, { body: tarball }), 201);

    const download = await fetch(node(1).url + url);
    expect(download.status).to.equal(200);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).to.equal(sha256(tarball));
    const packument = expectStatus(await node(1).call('GET', `${REPOS}/shared/index/left-pad`), 200).json;
    expect(packument.versions['1.0.0'].dist.integrity).to.equal(integrity(tarball));
    expect(await cluster().storedBlobs()).to.include(sha256(tarball));

    expectStatus(await node(1).call('DELETE', url), 204);
    expectStatus(await node(0).call('GET', url), 404);
    expect((await node(0).call('GET', `${REPOS}/shared/index`)).json.items).to.deep.equal([]);
    expect(await cluster().storedBlobs()).to.not.include(sha256(tarball));
  });

  it('ends concurrent uploads on every node with one index naming every artifact, each upload answered after a run that saw it', async () => {
    await createRepository('burst', 'npm');
    const versions = Array.from({ length: 16 }, (_, index) => `1.0.${index}`);
    await Promise.all(
      versions.map(async (version, index) => {
        const tarball = await npmTarball('burst-pkg', version);
        const url = `${REPOS}/burst/artifacts/burst-pkg/-/burst-pkg-${version}.tgz`;
        expectStatus(await node(index).call('PUT', url, { body: tarball }), 201);
        // Answered: the index, read on another node, already names it.
        const packument = expectStatus(await node(index + 1).call('GET', `${REPOS}/burst/index/burst-pkg`), 200).json;
        expect(packument.versions[version]?.dist.integrity, version).to.equal(integrity(tarball));
      }),
    );
    for (const index of cluster().nodes.keys()) {
      const index_ = expectStatus(await node(index).call('GET', `${REPOS}/burst/index`), 200).json;
      expect(index_.error).to.equal(null);
      const packument = expectStatus(await node(index).call('GET', `${REPOS}/burst/index/burst-pkg`), 200).json;
      expect(Object.keys(packument.versions).sort()).to.deep.equal([...versions].sort());
    }
  });

  it('never leaves a row whose blob is missing when one node deletes while another uploads the same bytes', async () => {
    await createRepository('race', 'generic');
    for (let round = 0; round < 12; round += 1) {
      const bytes = Buffer.from(`round ${round} ${randomBytes(8).toString('hex')}`);
      expectStatus(await node(0).call('PUT', `${REPOS}/race/artifacts/first/${round}.bin`, { body: bytes }), 201);
      // The delete frees the blob unless the re-upload holds or names it by then.
      const [deleted, uploaded] = await Promise.all([
        node(1).call('DELETE', `${REPOS}/race/artifacts/first/${round}.bin`),
        node(0).call('PUT', `${REPOS}/race/artifacts/second/${round}.bin`, { body: bytes }),
      ]);
      expectStatus(deleted, 204);
      expectStatus(uploaded, 201);
    }
    const rows = expectStatus(await node(1).call('GET', `${REPOS}/race/artifacts`), 200).json.items;
    expect(rows.map((row: { path: string }) => row.path).sort()).to.deep.equal(Array.from({ length: 12 }, (_, round) => `second/${round}.bin`).sort());
    const stored = await cluster().storedBlobs();
    for (const row of rows) {
      expect(stored, row.path).to.include(row.checksum_sha256);
      for (const index of cluster().nodes.keys()) {
        const answer = expectStatus(await node(index).call('GET', `${REPOS}/race/artifacts/${row.path}`), 200);
        expect(sha256(answer.text), row.path).to.equal(row.checksum_sha256);
      }
    }
  });
}
