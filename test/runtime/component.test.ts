import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@bytecodealliance/jco-transpile/wasm-tools';
import { PROVIDED_WASI_INTERFACES } from '../../plugin-host/wasi/interfaces.js';
import {
  checkComponent,
  COMPONENT_LIMITS,
  inspectComponent,
  transpileToCache,
} from '../../supervisor/runtime/component.js';
import {
  ARTIFACT_SOURCE_INTERFACE,
  HANDLER_INTERFACE,
  REQUEST_HANDLER_INTERFACE,
  STREAMING_HANDLER_INTERFACE,
  STREAMING_REQUEST_HANDLER_INTERFACE,
} from '../../protocol/wit-interfaces.js';
import { ComponentRefused } from '../../supervisor/runtime/errors.js';
import { expectRejection } from '../support/assertions.js';
import { fixtureWasm } from '../support/fixtures.js';
import { manyFunctionsComponent } from '../support/many-functions.js';

const MiB = 1024 * 1024;
const defaults = { memoryLimitBytes: 64 * MiB, requireRequestHandler: false };

describe('component pipeline', () => {
  describe('inspectComponent', () => {
    it('lists what a v1 component exports and imports', async () => {
      const inspection = await inspectComponent(await fixtureWasm('good'));
      expect(inspection).to.deep.include({
        kind: 'component',
        imports: [],
        exports: [HANDLER_INTERFACE],
        exportsHandler: true,
        exportsRequestHandler: false,
      });
    });

    it('tells a 1.1.0 component by its streaming-handler export, importing the host\'s artifact-source', async () => {
      const inspection = await inspectComponent(await fixtureWasm('stream'));
      expect(inspection).to.deep.include({
        kind: 'component',
        imports: [ARTIFACT_SOURCE_INTERFACE],
        exports: [STREAMING_HANDLER_INTERFACE],
        interfaceVersion: '1.1.0',
        exportsHandler: true,
        exportsRequestHandler: false,
      });
      expect(await checkComponent(await fixtureWasm('stream'), defaults)).to.deep.equal([]);
      expect(await checkComponent(await fixtureWasm('stream'), { ...defaults, requireRequestHandler: true })).to.deep.equal([
        `does not export ${STREAMING_REQUEST_HANDLER_INTERFACE}, which plugin.toml asks for with handle_request = true ` +
          `(exports: ${STREAMING_HANDLER_INTERFACE}); build it for the format-plugin-v3-http world or set handle_request = false`,
      ]);
    });

    it('sees the request handler of a v2 component', async () => {
      const inspection = await inspectComponent(await fixtureWasm('good-v2'));
      expect(inspection).to.deep.include({ kind: 'component', exportsHandler: true, exportsRequestHandler: true });
    });

    it('tells a core module and a non-WebAssembly file from a component', async () => {
      expect(await inspectComponent(await fixtureWasm('core-module'))).to.deep.equal({ kind: 'core-module' });
      expect(await inspectComponent(new TextEncoder().encode('[plugin]\nname = "demo"\n'))).to.deep.equal({ kind: 'not-wasm' });
    });

    it('reads the initial memory of the core modules inside the component', async () => {
      const inspection = await inspectComponent(await fixtureWasm('big-initial-memory'));
      if (inspection.kind !== 'component') expect.fail(`inspected as ${inspection.kind}`);
      const memories = inspection.coreModules.flatMap((m) => m.memories.filter((memory) => memory.import === null));
      expect(memories.map((m) => m.initialPages)).to.include(2048);
    });
  });

  describe('checkComponent', () => {
    it('accepts a well-formed handler', async () => {
      expect(await checkComponent(await fixtureWasm('good'), defaults)).to.deep.equal([]);
      expect(await checkComponent(await fixtureWasm('good-v2'), { ...defaults, requireRequestHandler: true })).to.deep.equal([]);
    });

    it('accepts the JavaScript handler and whatever WASI it imports', async () => {
      const bytes = await fixtureWasm('js-handler');
      const inspection = await inspectComponent(bytes);
      if (inspection.kind !== 'component') expect.fail(`inspected as ${inspection.kind}`);
      for (const name of inspection.imports) {
        expect(PROVIDED_WASI_INTERFACES).to.include(name.replace(/@.*$/, ''));
      }
      expect(await checkComponent(bytes, { ...defaults, requireRequestHandler: true })).to.deep.equal([]);
    });

    it('refuses a core module and says how to make it a component', async () => {
      const problems = await checkComponent(await fixtureWasm('core-module'), defaults);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^not a WebAssembly component: this is a core module; wrap it with `wasm-tools component new`/);
    });

    it('refuses a file that is not WebAssembly at all', async () => {
      const problems = await checkComponent(new TextEncoder().encode('#!/bin/sh\n'), defaults);
      expect(problems).to.deep.equal([
        'not a WebAssembly binary: the file does not start with the WebAssembly magic bytes (\\0asm)',
      ]);
    });

    it('refuses a truncated component with the decoder\'s reason', async () => {
      const bytes = await fixtureWasm('good');
      const problems = await checkComponent(bytes.subarray(0, bytes.length - 10), defaults);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^not a valid WebAssembly component: .+/);
    });

    it('refuses a component binary of another version', async () => {
      const problems = await checkComponent(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0c, 0x00, 0x01, 0x00]), defaults);
      expect(problems).to.deep.equal([
        'unsupported WebAssembly binary version (bytes 4-7 are 0c 00 01 00; a component has 0d 00 01 00): ' +
          'rebuild it with a current component toolchain',
      ]);
    });

    it('names what a component exports instead of the handler', async () => {
      const problems = await checkComponent(await fixtureWasm('missing-export'), defaults);
      expect(problems).to.deep.equal([
        `does not export ${HANDLER_INTERFACE} (1.0.0) or ${STREAMING_HANDLER_INTERFACE} (1.1.0) (exports: other:thing/greeter@1.0.0)`,
      ]);
    });

    it('refuses a v1 component when plugin.toml asks for request handling', async () => {
      const problems = await checkComponent(await fixtureWasm('good'), { ...defaults, requireRequestHandler: true });
      expect(problems).to.deep.equal([
        `does not export ${REQUEST_HANDLER_INTERFACE}, which plugin.toml asks for with handle_request = true ` +
          `(exports: ${HANDLER_INTERFACE}); build it for the format-plugin-v2 world or set handle_request = false`,
      ]);
    });

    it('refuses an initial memory above the limit, naming the module and both sizes', async () => {
      const bytes = await fixtureWasm('big-initial-memory');
      expect(await checkComponent(bytes, defaults)).to.deep.equal([
        "initial linear memory 128 MiB of core module #1 exceeds the plugin's memory limit of 64 MiB; " +
          "lower the module's initial memory or raise the plugin's memory limit",
      ]);
      expect(await checkComponent(bytes, { ...defaults, memoryLimitBytes: 256 * MiB })).to.deep.equal([]);
    });

    it('refuses each import the host cannot provide, saying why', async () => {
      const bytes = await parse(`(component
        (import "wasi:sockets/tcp@0.2.0" (instance))
        (import "wasi:http/outgoing-handler@0.2.0" (instance))
        (import "wasi:cli/stdout@0.3.0" (instance))
        (import "wasi:random/random@0.2.3" (instance))
        (import "example:secrets/vault@1.0.0" (instance)))`);
      const problems = await checkComponent(bytes, defaults);
      expect(problems).to.have.length(5);
      expect(problems[0]).to.equal(`does not export ${HANDLER_INTERFACE} (1.0.0) or ${STREAMING_HANDLER_INTERFACE} (1.1.0) (exports: nothing)`);
      expect(problems[1]).to.equal(
        'imports wasi:sockets/tcp@0.2.0: plugins have no network access; remove the socket use from the plugin',
      );
      expect(problems[2]).to.equal(
        'imports wasi:http/outgoing-handler@0.2.0: plugins cannot make or serve HTTP requests; remove the HTTP use from the plugin',
      );
      expect(problems[3]).to.equal(
        'imports wasi:cli/stdout@0.3.0, but the plugin host implements WASI 0.2.x only; build against WASI 0.2',
      );
      // wasi:random/random@0.2.3 is provided: no problem for it.
      expect(problems[4]).to.match(
        /^imports example:secrets\/vault@1\.0\.0, which the plugin host does not provide; a format plugin may import only these WASI 0\.2\.x interfaces: wasi:io\/error, /,
      );
    });
  });

  describe('transpileToCache', () => {
    let cacheDir: string;
    beforeEach(async () => {
      cacheDir = await mkdtemp(join(tmpdir(), 'plugin-keeper-cache-'));
    });
    afterEach(async () => {
      await rm(cacheDir, { recursive: true, force: true });
    });

    it('writes the transpiled module under the SHA-256 with a package.json marking it ESM', async () => {
      const result = await transpileToCache(await fixtureWasm('good'), cacheDir);
      expect(result.sha256).to.match(/^[0-9a-f]{64}$/);
      expect(result.dir).to.equal(join(cacheDir, result.sha256));
      expect(result.entry).to.equal(join(result.dir, 'plugin.js'));
      expect(result.transpiled).to.equal(true);
      const files = await readdir(result.dir);
      expect(files).to.include.members(['plugin.js', 'plugin.core.wasm', 'package.json']);
      expect(JSON.parse(await readFile(join(result.dir, 'package.json'), 'utf8'))).to.deep.equal({ type: 'module' });
    });

    it('returns the cached output for the same bytes without transpiling again', async () => {
      const bytes = await fixtureWasm('good');
      const first = await transpileToCache(bytes, cacheDir);
      const before = await stat(first.entry);
      const second = await transpileToCache(bytes, cacheDir);
      const after = await stat(second.entry);
      expect(second).to.deep.equal({ ...first, transpiled: false });
      expect(after.ino).to.equal(before.ino, 'the entry file was not replaced');
      expect(after.mtimeMs).to.equal(before.mtimeMs);
    });

    it('builds once for concurrent calls with the same bytes and leaves no temporary directory', async () => {
      const bytes = await fixtureWasm('good-v2');
      const results = await Promise.all([1, 2, 3, 4].map(() => transpileToCache(bytes, cacheDir)));
      expect(results.filter((r) => r.transpiled)).to.have.length(1);
      expect(new Set(results.map((r) => r.dir)).size).to.equal(1);
      expect(await readdir(cacheDir)).to.deep.equal([results[0]!.sha256]);
    });

    describe('a component that is cheap to send and expensive to transpile', function () {
      this.timeout(120_000);
      let many: Uint8Array;
      before(async () => {
        many = await manyFunctionsComponent(3000); // ~630 KB; jco takes seconds and writes ~8 MB of JavaScript
      });

      /** Runs `work` while measuring the longest gap between 10 ms timer ticks on this thread. */
      async function longestStall(work: () => Promise<unknown>): Promise<number> {
        let last = performance.now();
        let longest = 0;
        const ticker = setInterval(() => {
          const now = performance.now();
          longest = Math.max(longest, now - last);
          last = now;
        }, 10);
        try {
          await work();
        } finally {
          clearInterval(ticker);
        }
        return longest;
      }

      it('is refused for its function count before anything is transpiled, and leaves nothing in the cache', async () => {
        const problems = await checkComponent(many, defaults);
        expect(problems).to.have.length(1);
        expect(problems[0]).to.contain('3004 functions').and.contain(`limit of ${COMPONENT_LIMITS.maxFunctions}`);
        const refused = await expectRejection(transpileToCache(many, cacheDir), ComponentRefused);
        expect(refused.problems).to.deep.equal(problems);
        expect(await readdir(cacheDir)).to.deep.equal([]);
      });

      it('is transpiled off the event loop and stopped at the time limit, leaving nothing in the cache', async () => {
        const limits = { ...COMPONENT_LIMITS, maxFunctions: 10_000, transpileTimeoutMs: 500 };
        let refused: ComponentRefused | undefined;
        const stall = await longestStall(async () => {
          refused = await expectRejection(transpileToCache(many, cacheDir, limits), ComponentRefused);
        });
        expect(refused!.message).to.contain('took longer than the limit of 0.5 s');
        expect(stall, 'longest event-loop stall (ms)').to.be.below(200);
        expect(await readdir(cacheDir)).to.deep.equal([]);
      });

      it('is refused when its transpiled JavaScript is over the cap, leaving nothing in the cache', async () => {
        const limits = { ...COMPONENT_LIMITS, maxFunctions: 10_000, maxJavaScriptBytes: MiB };
        const refused = await expectRejection(transpileToCache(many, cacheDir, limits), ComponentRefused);
        expect(refused.message).to.match(/transpiled JavaScript would be [\d.]+ MiB, more than the limit of 1\.0 MiB/);
        expect(await readdir(cacheDir)).to.deep.equal([]);
      });
    });

    it('refuses a component over the size limit', async () => {
      const limits = { ...COMPONENT_LIMITS, maxBytes: 1000 };
      const refused = await expectRejection(transpileToCache(await fixtureWasm('good'), cacheDir, limits), ComponentRefused);
      expect(refused.message).to.contain('more than the limit of');
      expect(await readdir(cacheDir)).to.deep.equal([]);
    });

    it('keeps different components apart', async () => {
      const a = await transpileToCache(await fixtureWasm('good'), cacheDir);
      const b = await transpileToCache(await fixtureWasm('good-v2'), cacheDir);
      expect(a.dir).to.not.equal(b.dir);
      expect((await readdir(cacheDir)).sort()).to.deep.equal([a.sha256, b.sha256].sort());
    });
  });
});
