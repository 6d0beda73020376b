// The checks of what a plugin returns (supervisor/formats/plugin-results.ts), on their own
// and at the WasmFormatHandler boundary, over a pool that answers what the test says.
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import { expect } from 'chai';
import type { ArtifactMetadata } from '../../supervisor/formats/handler.js';
import {
  PLUGIN_RESULT_LIMITS as LIMITS,
  checkHttpResponse,
  checkIndexResult,
  checkMetadata,
} from '../../supervisor/formats/plugin-results.js';
import { WasmFormatHandler } from '../../supervisor/formats/wasm-handler.js';
import { PluginInvalidResponse } from '../../supervisor/formats/errors.js';
import type { VersionPool } from '../../supervisor/runtime/pool.js';

const GOOD: ArtifactMetadata = {
  path: 'pkgs/a-1.0.demo',
  version: '1.0.0-beta+build.7',
  contentType: 'application/x-demo; charset="utf-8"',
  sizeBytes: 12,
  checksumSha256: 'AB'.repeat(32),
};

function refusal(check: () => unknown): string {
  try {
    check();
  } catch (error) {
    expect(error).to.be.instanceOf(PluginInvalidResponse);
    expect((error as PluginInvalidResponse).code).to.equal('plugin_invalid_response');
    return (error as Error).message;
  }
  return expect.fail('expected plugin_invalid_response');
}

const MiB = 1024 * 1024;

describe('plugin results', () => {
  describe('metadata', () => {
    it('keeps the five fields of a good record, an empty version as none, the checksum in lowercase', () => {
      expect(checkMetadata('demo', { ...GOOD, extra: 'x'.repeat(1000) })).to.deep.equal({ ...GOOD, checksumSha256: 'ab'.repeat(32) });
      expect(checkMetadata('demo', { ...GOOD, version: '', checksumSha256: null })).to.include({ version: null, checksumSha256: null });
      expect(checkMetadata('demo', { ...GOOD, version: 'v1.0 (Ünïcode ✓)' }).version).to.equal('v1.0 (Ünïcode ✓)');
    });

    const sixMillion = 'x'.repeat(6_000_000);
    for (const [what, change, field] of [
      ['a 6-million-character version', { version: sixMillion }, /: version is 6000000 characters long; at most 256$/],
      ['a version of 257 characters', { version: 'v'.repeat(257) }, /version is 257 characters long/],
      ['a version with a control character', { version: '1.0\u001b[31m' }, /version contains a control or other unprintable character \(U\+001B at 3\)/],
      ['a version with a line separator', { version: '1.0\u2028x' }, /version contains .* \(U\+2028 at 3\)/],
      ['a 6-million-character path', { path: sixMillion }, /path .* longer than 1024/],
      ['a path escaping the repository', { path: '../../etc/passwd' }, /path .* "\.\." segment/],
      ['an absolute path', { path: '/etc/passwd' }, /path .* absolute/],
      ['a 6-million-character checksum', { checksumSha256: sixMillion }, /checksum .* not a SHA-256/],
      ['a checksum of 63 hex digits', { checksumSha256: 'a'.repeat(63) }, /checksum .* not a SHA-256/],
      ['a content type that is none', { contentType: 'text html' }, /content type "text html" is not a media type/],
      ['a content type with a header break', { contentType: 'text/html\r\nSet-Cookie: a=b' }, /content type .* not a media type/],
      ['a 6-million-character content type', { contentType: `text/${sixMillion}` }, /content type is 6000005 characters long; at most 256/],
      ['a negative size', { sizeBytes: -1 }, /size -1 is not a byte count/],
      ['a fractional size', { sizeBytes: 1.5 }, /size 1.5 is not a byte count/],
      ['a size past 2^53', { sizeBytes: 2 ** 60 }, /size .* not a byte count/],
      ['a version that is a number', { version: 7 }, /version is 7, not a string/],
      ['no content type', { contentType: undefined }, /content type is missing/],
    ] as const) {
      it(`refuses ${what}, naming the field`, () => {
        const message = refusal(() => checkMetadata('demo', { ...GOOD, ...change }));
        expect(message).to.match(/^the demo plugin returned an invalid parse-metadata result: /);
        expect(message).to.match(field);
        // The message stays short whatever the plugin sent.
        expect(message.length).to.be.below(400);
      });
    }

    it('refuses what is no record at all', () => {
      expect(refusal(() => checkMetadata('demo', 'metadata'))).to.match(/the metadata is "metadata", not a record/);
      expect(refusal(() => checkMetadata('demo', null))).to.match(/the metadata is missing/);
    });
  });

  describe('index files', () => {
    const file = (path: string, size = 1) => ({ path, content: new Uint8Array(size) });

    it('takes none, and a list of good files', () => {
      expect(checkIndexResult('demo', null)).to.equal(null);
      const files = [file('index.html'), file('simple/pkg/index.html')];
      expect(checkIndexResult('demo', files)).to.deep.equal(files);
    });

    it(`refuses more than ${LIMITS.indexFiles} files`, () => {
      const files = Array.from({ length: LIMITS.indexFiles + 1 }, (_, i) => file(`f/${i}`));
      expect(refusal(() => checkIndexResult('demo', files))).to.match(/the file list has 10001 files; at most 10000/);
      expect(checkIndexResult('demo', files.slice(1))).to.have.length(LIMITS.indexFiles);
    });

    it('refuses a file over 64 MiB, and files over 256 MiB in all', () => {
      expect(refusal(() => checkIndexResult('demo', [file('a'), file('big', 64 * MiB + 1)]))).to.match(/index file 1 content is 67108865 bytes; at most 67108864/);
      // Five views of one 60 MiB buffer: 300 MiB in all, without allocating it.
      const shared = new Uint8Array(60 * MiB);
      const files = Array.from({ length: 5 }, (_, i) => ({ path: `part-${i}`, content: shared }));
      expect(refusal(() => checkIndexResult('demo', files))).to.match(/the file list holds more than 268435456 bytes in all/);
      expect(checkIndexResult('demo', files.slice(1))).to.have.length(4);
    });

    it('refuses paths that are no artifact paths, and the same path twice', () => {
      expect(refusal(() => checkIndexResult('demo', [file('../escape')]))).to.match(/index file 0 path "\.\.\/escape" is refused: .*"\.\." segment/);
      expect(refusal(() => checkIndexResult('demo', [file('x'.repeat(6_000_000))]))).to.match(/index file 0 path .* longer than 1024/);
      expect(refusal(() => checkIndexResult('demo', [file('a/b'), file('./a//b')]))).to.match(/index file 1 path "a\/b" names a file already listed/);
      expect(refusal(() => checkIndexResult('demo', [{ path: 'a', content: 'text' }]))).to.match(/index file 0 content is "text", not bytes/);
    });
  });

  describe('native answers', () => {
    const answer = { status: 200, headers: [['content-type', 'text/plain']], body: new Uint8Array(3) };

    it('takes statuses from 200 to 599', () => {
      for (const status of [200, 304, 404, 599]) expect(checkHttpResponse('demo', { ...answer, status }).status).to.equal(status);
    });

    for (const status of [100, 101, 103, 199, 600, 1.5, 0]) {
      it(`refuses the status ${status}`, () => {
        expect(refusal(() => checkHttpResponse('demo', { ...answer, status }))).to.match(new RegExp(`handle-request result: status ${status} is not an HTTP status from 200 to 599`));
      });
    }

    it(`refuses more than ${LIMITS.responseHeaders} headers, or ${LIMITS.responseHeaderLength} characters of them`, () => {
      const many = Array.from({ length: LIMITS.responseHeaders + 1 }, (_, i) => [`x-h${i}`, 'v']);
      expect(refusal(() => checkHttpResponse('demo', { ...answer, headers: many }))).to.match(/headers has 101 entries; at most 100/);
      expect(refusal(() => checkHttpResponse('demo', { ...answer, headers: [['x-big', 'v'.repeat(LIMITS.responseHeaderLength)]] }))).to.match(/headers hold more than 32768 characters/);
      expect(refusal(() => checkHttpResponse('demo', { ...answer, headers: [['x-one']] }))).to.match(/header 0 is not a \(name, value\) pair/);
    });

    it('refuses a body over 64 MiB', () => {
      expect(refusal(() => checkHttpResponse('demo', { ...answer, body: new Uint8Array(64 * MiB + 1) }))).to.match(/body is 67108865 bytes; at most 67108864/);
    });
  });

  describe('at the WebAssembly handler', () => {
    /** A handler whose "plugin" answers every call with `result`. */
    function handlerAnswering(result: unknown): { handler: WasmFormatHandler; calls: string[] } {
      const calls: string[] = [];
      const pool = {
        limits: { memoryMb: 64 },
        toolchain: 'other',
        interfaceVersion: '1.0.0',
        call: async (type: { method: string }) => {
          calls.push(type.method);
          return result;
        },
      } as unknown as VersionPool;
      const capabilities = { parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: true };
      return { handler: new WasmFormatHandler('demo', capabilities, '0'.repeat(64), pool), calls };
    }

    it('keeps properties in order and refuses them out of bounds (count, size, duplicate or empty keys, non-strings)', async () => {
      const properties: Array<[string, string]> = [['z', '1'], ['a', '{"dep":"^1"}']];
      expect((await handlerAnswering({ ...GOOD, properties }).handler.parseMetadata('a', bytesSource(new Uint8Array(1)))).properties).to.deep.equal(properties);
      const refused = (value: unknown) =>
        handlerAnswering({ ...GOOD, properties: value }).handler.parseMetadata('a', bytesSource(new Uint8Array(1))).then(
          () => expect.fail('expected a rejection'),
          (failure: Error) => failure.message,
        );
      expect(await refused(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))).to.match(/properties has 65 entries; at most 64/);
      expect(await refused([['k', 'x'.repeat(65 * 1024)]])).to.match(/properties hold more than 65536 bytes in all/);
      expect(await refused([['k', '1'], ['k', '2']])).to.match(/property 1 key "k" is listed twice/);
      expect(await refused([['', '1']])).to.match(/property 0 key is 0 characters long/);
      expect(await refused([['k', 3]])).to.match(/property 0 value is 3, not a string/);
      expect(await refused('k=v')).to.match(/properties is "k=v", not a list/);
    });

    it("refuses a plugin's metadata, index and answer out of bounds", async () => {
      const context = { repoKey: 'r', baseUrl: 'http://h/ext/demo/r', downloadBaseUrl: 'http://h/api/v1/repositories/r/artifacts' };
      const request = { method: 'GET', path: '/', query: '', headers: [], body: new Uint8Array() };
      const rejection = async (promise: Promise<unknown>) => {
        const error = await promise.then(() => expect.fail('expected a rejection'), (failure: unknown) => failure);
        expect(error).to.be.instanceOf(PluginInvalidResponse);
        return (error as Error).message;
      };
      expect(await rejection(handlerAnswering({ ...GOOD, version: 'x'.repeat(6_000_000) }).handler.parseMetadata('a', bytesSource(new Uint8Array(1))))).to.match(/version is 6000000 characters long/);
      expect(await rejection(handlerAnswering([{ path: '../x', content: new Uint8Array(1) }]).handler.generateIndex([], { repoKey: 'r', baseUrl: 'http://x/ext/demo/r', downloadBaseUrl: 'http://x/api/v1/repositories/r/artifacts' }))).to.match(/index file 0 path/);
      expect(await rejection(handlerAnswering({ status: 101, headers: [], body: new Uint8Array() }).handler.handleRequest(request, context, []))).to.match(/status 101/);
      const { handler, calls } = handlerAnswering(GOOD);
      expect(await handler.parseMetadata('a', bytesSource(new Uint8Array(1)))).to.deep.equal({ ...GOOD, checksumSha256: 'ab'.repeat(32) });
      expect(calls).to.deep.equal(['handler/parseMetadata']);
    });
  });
});
