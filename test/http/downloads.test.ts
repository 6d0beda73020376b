// Downloads whose row was replaced between lookup and open (an index rebuilt under a reader,
// an artifact overwritten, on any node): the route looks the path up again instead of a 404.
import { expect } from 'chai';
import { SAMPLE_ARTIFACT_BYTES } from './doubles.js';
import { startHarness, type Harness } from './harness.js';

describe('http: a download whose bytes were replaced while being opened', () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness();
  });
  beforeEach(() => harness.reset());
  after(async () => {
    await harness.close();
  });

  for (const [what, route, method] of [
    ['an artifact', '/api/v1/repositories/npm-local/artifacts/left-pad/-/left-pad-1.3.0.tgz', 'download'],
    ['an index file', '/api/v1/repositories/npm-local/index/left-pad', 'indexFile'],
  ] as const) {
    it(`serves ${what} found again after its first row's bytes went away`, async () => {
      harness.artifacts.bytesGone = 1;
      const answer = await harness.call('GET', route);
      expect(answer.status, answer.text).to.equal(200);
      expect(Buffer.from(answer.text)).to.deep.equal(Buffer.from(SAMPLE_ARTIFACT_BYTES));
      expect(harness.artifacts.calls.filter((call) => call.method === method)).to.have.length(2);
    });

    it(`answers 404 for ${what} whose bytes keep going away, after three lookups`, async () => {
      harness.artifacts.bytesGone = 5;
      const answer = await harness.call('GET', route);
      expect(answer.status).to.equal(404);
      expect(answer.json).to.deep.include({ error: 'not_found' });
      expect(answer.json.message).to.contain('was replaced or deleted while being opened');
      expect(harness.artifacts.calls.filter((call) => call.method === method)).to.have.length(3);
    });
  }
});
