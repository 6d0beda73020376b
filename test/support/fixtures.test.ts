// The fixtures behave as documented in their sources: each is built, transpiled with jco
// the way the plugin host does it, instantiated in this process and called.
import { expect } from 'chai';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { componentWit } from '@bytecodealliance/jco-transpile/wasm-tools';
import { createWasi } from '../../plugin-host/wasi/imports.js';
import { type FixtureName, fixturePath, fixtureWasm, repoRoot } from './fixtures.js';

const HANDLER = 'artifact-keeper:format/handler@1.0.0';
const REQUEST_HANDLER = 'artifact-keeper:format/request-handler@1.0.0';

// The shapes jco gives the WIT types (u64 is a BigInt, option<T> is T | undefined).
interface Metadata {
  path: string;
  version?: string | undefined;
  contentType: string;
  sizeBytes: bigint;
  checksumSha256?: string | undefined;
}
interface Handler {
  formatKey(): string;
  parseMetadata(path: string, data: Uint8Array): Metadata;
  validate(path: string, data: Uint8Array): void;
  generateIndex(artifacts: Metadata[]): Array<[string, Uint8Array]> | undefined;
}
interface HttpResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
}
interface RequestHandler {
  handleRequest(
    request: { method: string; path: string; query: string; headers: Array<[string, string]>; body: Uint8Array },
    context: { repoKey: string; baseUrl: string; downloadBaseUrl: string },
    artifacts: Metadata[],
  ): HttpResponse;
}
type Exports = { [HANDLER]: Handler; [REQUEST_HANDLER]?: RequestHandler };

interface Transpiled {
  /** The directory holding the generated bindings (plugin.js) and core modules. */
  dir: string;
  /** The core modules inside the component, by file name. */
  coreModules: Map<string, Uint8Array<ArrayBuffer>>;
  /** A fresh instance each call; `prepareCore` may rewrite a core module first. */
  instantiate(prepareCore?: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>): Promise<Exports>;
}

const transpiledDirs: string[] = [];

/** Transpiles the fixture like the plugin host: async instantiation, core modules as files. */
async function transpile(name: FixtureName): Promise<Transpiled> {
  const { files } = await transpileBytes(await fixtureWasm(name), {
    name: 'plugin',
    instantiation: 'async',
    base64Cutoff: 0,
  });
  const dir = await mkdtemp(path.join(tmpdir(), `fixture-${name}-`));
  transpiledDirs.push(dir);
  // The bindings are ES modules with a .js extension.
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  const coreModules = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const [file, contents] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), contents);
    if (file.endsWith('.wasm')) coreModules.set(file, new Uint8Array(contents));
  }
  const bindings = (await import(pathToFileURL(path.join(dir, 'plugin.js')).href)) as {
    instantiate(getCoreModule: (file: string) => Promise<WebAssembly.Module>, imports: object): Promise<Exports>;
  };
  return {
    dir,
    coreModules,
    instantiate: (prepareCore = (core) => core) =>
      // The plugin host's own WASI: TypeScript plugins import stdio.
      bindings.instantiate((file) => WebAssembly.compile(prepareCore(coreModules.get(file)!)), createWasi(() => {}).imports),
  };
}

/** What `action` threw; fails the test if it returned. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (thrown) {
    return thrown;
  }
  expect.fail('expected a throw');
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

const WAT_COMPONENTS: FixtureName[] = [
  'good',
  'good-v2',
  'loop',
  'memory-bomb',
  'trap',
  'huge-result',
  'wrong-key',
  'missing-export',
  'big-initial-memory',
];

describe('test fixtures', function () {
  after(async function () {
    await Promise.all(transpiledDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  describe('building', function () {
    for (const name of WAT_COMPONENTS) {
      it(`builds ${name} as a component`, async function () {
        const wasm = await fixtureWasm(name);
        expect([...wasm.subarray(0, 4)]).to.deep.equal([0x00, 0x61, 0x73, 0x6d]);
        // component-model binary version 0x0d, layer 1
        expect([...wasm.subarray(4, 8)]).to.deep.equal([0x0d, 0x00, 0x01, 0x00]);
      });
    }

    it('builds core-module as a core module that compiles on its own', async function () {
      const wasm = await fixtureWasm('core-module');
      expect([...wasm.subarray(4, 8)]).to.deep.equal([0x01, 0x00, 0x00, 0x00]);
      const exports = WebAssembly.Module.exports(await WebAssembly.compile(wasm)).map((e) => e.name);
      expect(exports).to.include(`${HANDLER}#parse-metadata`);
    });

    it('caches builds under .cache/fixtures by content hash', async function () {
      const file = await fixturePath('good');
      expect(path.dirname(file)).to.equal(path.join(repoRoot, '.cache', 'fixtures'));
      expect(path.basename(file)).to.match(/^good-[0-9a-f]{64}\.wasm$/);
    });

    it('reuses the cached file on the next run instead of rebuilding', async function () {
      const file = await fixturePath('good');
      const before = await stat(file);
      // A second copy of the module starts with no in-memory state, like the next test run.
      const fresh = (await import(`./fixtures.js?fresh=${Date.now()}`)) as typeof import('./fixtures.js');
      expect(await fresh.fixturePath('good')).to.equal(file);
      expect((await stat(file)).mtimeMs).to.equal(before.mtimeMs);
    });

    it('shares one build between concurrent calls', async function () {
      const fresh = (await import(`./fixtures.js?concurrent=${Date.now()}`)) as typeof import('./fixtures.js');
      const first = fresh.fixturePath('loop');
      expect(fresh.fixturePath('loop')).to.equal(first);
      await first;
    });
  });

  describe('good', function () {
    let handler: Handler;
    before(async function () {
      handler = (await (await transpile('good')).instantiate())[HANDLER];
    });

    it('has format key "demo"', function () {
      expect(handler.formatKey()).to.equal('demo');
    });

    it('validates the DEMO magic, throwing the err payload as a plain string', function () {
      expect(handler.validate('a.demo', bytes('DEMO and more'))).to.equal(undefined);
      expect(thrownBy(() => handler.validate('a.demo', new Uint8Array()))).to.equal('empty artifact');
      expect(thrownBy(() => handler.validate('a.demo', bytes('DEM')))).to.equal('bad magic: expected DEMO');
      expect(thrownBy(() => handler.validate('a.demo', bytes('demo')))).to.equal('bad magic: expected DEMO');
    });

    it('parses metadata: version is the sum of all bytes, path echoed', function () {
      const data = new Uint8Array(100_000).map((_, i) => i % 256);
      const expectedSum = data.reduce((sum, byte) => sum + byte, 0);
      expect(handler.parseMetadata('dir/a.demo', data)).to.deep.equal({
        path: 'dir/a.demo',
        version: String(expectedSum),
        contentType: 'application/x-demo',
        sizeBytes: 100_000n,
        checksumSha256: undefined,
      });
      expect(handler.parseMetadata('empty', new Uint8Array()).version).to.equal('0');
    });

    it('wraps the byte sum at 2^32', function () {
      // 16843010 bytes of 0xff sum to 4294967550 = 2^32 + 254
      expect(handler.parseMetadata('big', new Uint8Array(16_843_010).fill(0xff)).version).to.equal('254');
    });

    it('generates index.txt with one line per artifact, or no index for none', function () {
      const artifacts: Metadata[] = [
        { path: 'a.demo', version: '42', contentType: 'application/x-demo', sizeBytes: 7n },
        { path: 'b/c.demo', contentType: 'application/x-demo', sizeBytes: 18_446_744_073_709_551_615n },
      ];
      const index = handler.generateIndex(artifacts);
      expect(index).to.have.length(1);
      expect(index![0]![0]).to.equal('index.txt');
      expect(text(index![0]![1])).to.equal('a.demo 42 7\nb/c.demo - 18446744073709551615\n');
      expect(handler.generateIndex([])).to.equal(undefined);
    });
  });

  describe('good-v2', function () {
    let exports: Exports;
    const context = { repoKey: 'demo-local', baseUrl: 'https://keeper.test/demo', downloadBaseUrl: 'https://dl.test' };
    const request = (method: string, requestPath: string, query = '', body = new Uint8Array()) => ({
      method,
      path: requestPath,
      query,
      headers: [['accept', '*/*']] as Array<[string, string]>,
      body,
    });

    before(async function () {
      exports = await (await transpile('good-v2')).instantiate();
    });

    it('is the good handler under format key "demo-v2"', function () {
      const handler = exports[HANDLER];
      expect(handler.formatKey()).to.equal('demo-v2');
      expect(handler.parseMetadata('a', Uint8Array.of(1, 2, 3)).version).to.equal('6');
      expect(thrownBy(() => handler.validate('a', bytes('nope')))).to.equal('bad magic: expected DEMO');
    });

    it('echoes the request in a 200 response', function () {
      const artifacts = [exports[HANDLER].parseMetadata('a', bytes('DEMO')), exports[HANDLER].parseMetadata('b', bytes('DEMO'))];
      const response = exports[REQUEST_HANDLER]!.handleRequest(
        request('POST', '/api/x', 'q=1&r=2', new Uint8Array(17)),
        context,
        artifacts,
      );
      expect(response.status).to.equal(200);
      expect(response.headers).to.deep.equal([['content-type', 'text/plain']]);
      expect(text(response.body)).to.equal(
        'POST /api/x?q=1&r=2 repo=demo-local base=https://keeper.test/demo artifacts=2 body=17',
      );
    });

    it('answers /missing with 404 and /fail with an err', function () {
      const response = exports[REQUEST_HANDLER]!.handleRequest(request('GET', '/missing'), context, []);
      expect(response.status).to.equal(404);
      expect(text(response.body)).to.equal('not found');
      expect(
        thrownBy(() => exports[REQUEST_HANDLER]!.handleRequest(request('GET', '/fail'), context, [])),
      ).to.equal('request refused');
    });
  });

  describe('trap', function () {
    let transpiled: Transpiled;
    before(async function () {
      transpiled = await transpile('trap');
    });

    it('counts calls, traps on "TRAP", and a fresh instance starts over', async function () {
      const handler = (await transpiled.instantiate())[HANDLER];
      expect(handler.parseMetadata('a', bytes('a')).version).to.equal('1');
      expect(handler.parseMetadata('a', bytes('TRAPS')).version).to.equal('2');

      const trap = thrownBy(() => handler.parseMetadata('a', bytes('TRAP')));
      expect(trap).to.be.instanceOf(WebAssembly.RuntimeError);
      expect((trap as Error).message).to.include('unreachable');

      const fresh = (await transpiled.instantiate())[HANDLER];
      expect(fresh.parseMetadata('a', bytes('a')).version).to.equal('1');
    });

    it('leaves the trapped instance unusable rather than corrupt', async function () {
      const handler = (await transpiled.instantiate())[HANDLER];
      thrownBy(() => handler.parseMetadata('a', bytes('TRAP')));
      // jco marks the instance as trapped, so the wrecked state is never reached.
      const reuse = thrownBy(() => handler.parseMetadata('a', bytes('a')));
      expect(reuse).to.be.instanceOf(WebAssembly.RuntimeError);
      expect((reuse as Error).message).to.equal('wasm trap: cannot enter component instance');
    });
  });

  describe('memory-bomb', function () {
    let transpiled: Transpiled;
    before(async function () {
      transpiled = await transpile('memory-bomb');
    });

    // 16 pages (1 MiB): far below the 1600 pages the bomb asks for, so the test is quick.
    const capped = () => transpiled.instantiate((core) => withMemoryMaximum(core, 16));

    it('reports an allocation failure from validate and stays usable', async function () {
      const handler = (await capped())[HANDLER];
      expect(thrownBy(() => handler.validate('a', bytes('x')))).to.equal('out of memory');
      expect(thrownBy(() => handler.validate('a', bytes('x')))).to.equal('out of memory');
      expect(handler.formatKey()).to.equal('bomb');
    });

    it('traps in parse-metadata when memory cannot grow', async function () {
      const handler = (await capped())[HANDLER];
      const trap = thrownBy(() => handler.parseMetadata('a', bytes('x')));
      expect(trap).to.be.instanceOf(WebAssembly.RuntimeError);
      expect((trap as Error).message).to.include('unreachable');
    });
  });

  describe('huge-result', function () {
    let handler: Handler;
    before(async function () {
      handler = (await (await transpile('huge-result')).instantiate())[HANDLER];
    });

    it('generates a 40 MiB index file with byte i = i mod 251', function () {
      const index = handler.generateIndex([]);
      expect(index).to.have.length(1);
      const [name, contents] = index![0]!;
      expect(name).to.equal('big.bin');
      expect(contents.length).to.equal(41_943_040);
      const firstMismatch = contents.findIndex((byte, i) => byte !== i % 251);
      expect(firstMismatch).to.equal(-1);
    });

    it('returns metadata that cannot be lifted', function () {
      // The bindings refuse the 0x7fff0000-byte content-type when they copy it out.
      expect(thrownBy(() => handler.parseMetadata('a', bytes('x')))).to.be.instanceOf(RangeError);
      expect(handler.formatKey()).to.equal('huge');
    });
  });

  describe('loop', function () {
    it('never returns from parse-metadata', async function () {
      const { dir } = await transpile('loop');
      // In a worker, so the busy loop can be stopped from here.
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { readFile } = require('node:fs/promises');
         const path = require('node:path');
         import(workerData.bindings).then(async ({ instantiate }) => {
           const exports = await instantiate(
             async (file) => WebAssembly.compile(await readFile(path.join(workerData.dir, file))), {});
           parentPort.postMessage('calling');
           exports['${HANDLER}'].parseMetadata('a', new Uint8Array(1));
           parentPort.postMessage('returned');
         });`,
        { eval: true, workerData: { dir, bindings: pathToFileURL(path.join(dir, 'plugin.js')).href } },
      );
      const messages: string[] = [];
      worker.on('message', (message: string) => messages.push(message));
      try {
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', () => resolve());
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(messages).to.deep.equal(['calling']);
      } finally {
        await worker.terminate();
      }
    });
  });

  describe('wrong-key, missing-export, big-initial-memory', function () {
    it('wrong-key answers "not-the-key"', async function () {
      const handler = (await (await transpile('wrong-key')).instantiate())[HANDLER];
      expect(handler.formatKey()).to.equal('not-the-key');
      expect(handler.parseMetadata('a', bytes('abc')).sizeBytes).to.equal(3n);
    });

    it('missing-export exports another interface and not the handler', async function () {
      const wit = await componentWit(await fixtureWasm('missing-export'));
      expect(wit).to.include('export other:thing/greeter@1.0.0;');
      expect(wit).not.to.include('artifact-keeper:format');
    });

    it('big-initial-memory starts with 128 MiB of memory', async function () {
      const { coreModules } = await transpile('big-initial-memory');
      expect([...coreModules.keys()]).to.deep.equal(['plugin.core.wasm']);
      const { instance } = await WebAssembly.instantiate(coreModules.get('plugin.core.wasm')!);
      expect((instance.exports.memory as WebAssembly.Memory).buffer.byteLength).to.equal(2048 * 65536);
    });
  });

  describe('js-handler', function () {
    let exports: Exports;
    let handler: Handler;

    before(async function () {
      // The only slow fixture: componentize-js takes tens of seconds on a cold cache.
      this.timeout(300_000);
      exports = await (await transpile('js-handler')).instantiate();
      handler = exports[HANDLER];
    });

    it('is a component that imports only the WASI stdio brings (no network, no random) and exports both interfaces', async function () {
      const wasm = await fixtureWasm('js-handler');
      expect([...wasm.subarray(4, 8)]).to.deep.equal([0x0d, 0x00, 0x01, 0x00]);
      const wit = await componentWit(wasm);
      const imports = [...wit.matchAll(/^ {2}import ([^@;\s]+)/gm)].map((match) => match[1]).sort();
      expect(imports).to.deep.equal([
        'wasi:cli/stderr', 'wasi:cli/stdin', 'wasi:cli/stdout',
        'wasi:cli/terminal-input', 'wasi:cli/terminal-output', 'wasi:cli/terminal-stderr', 'wasi:cli/terminal-stdin', 'wasi:cli/terminal-stdout',
        'wasi:clocks/wall-clock', 'wasi:filesystem/preopens', 'wasi:filesystem/types',
        'wasi:io/error', 'wasi:io/poll', 'wasi:io/streams',
      ]);
      expect(wit).to.include(`export ${HANDLER};`);
      expect(wit).to.include(`export ${REQUEST_HANDLER};`);
    });

    it('has format key "json-pkg"', function () {
      expect(handler.formatKey()).to.equal('json-pkg');
    });

    it('validates descriptors with precise errors', function () {
      expect(handler.validate('a.json', bytes('{"name":"a","version":"1.2.3","description":"x"}'))).to.equal(undefined);
      const cases: Array<[string | Uint8Array, string | RegExp]> = [
        ['nope', /^not JSON: /],
        [Uint8Array.of(0xff, 0xfe), 'not UTF-8 text'],
        ['[1]', 'not a JSON object'],
        ['{"version":"1.0.0"}', 'missing name'],
        ['{"name":"","version":"1.0.0"}', 'name must be a non-empty string'],
        ['{"name":"a"}', 'missing version'],
        ['{"name":"a","version":"1.x"}', 'bad version: "1.x" is not a semantic version'],
        ['{"name":"a","version":"01.0.0"}', 'bad version: "01.0.0" is not a semantic version'],
        ['{"name":"a","version":"1.0.0","description":5}', 'description must be a string'],
      ];
      for (const [input, expected] of cases) {
        const error = thrownBy(() => handler.validate('a.json', typeof input === 'string' ? bytes(input) : input));
        expect(error, String(input)).to.be.a('string');
        if (typeof expected === 'string') expect(error, String(input)).to.equal(expected);
        else expect(error, String(input)).to.match(expected);
      }
    });

    it('parses metadata and rejects what validate rejects', function () {
      const data = bytes('{"name":"a","version":"1.2.3-beta.1+build.5"}');
      expect(handler.parseMetadata('pkgs/a.json', data)).to.deep.equal({
        path: 'pkgs/a.json',
        version: '1.2.3-beta.1+build.5',
        contentType: 'application/json',
        sizeBytes: BigInt(data.length),
        checksumSha256: undefined,
      });
      expect(thrownBy(() => handler.parseMetadata('b.json', bytes('{"name":"b"}')))).to.equal('missing version');
    });

    const artifacts: Metadata[] = [
      { path: 'pkgs/a.json', version: '1.2.3', contentType: 'application/json', sizeBytes: 40n },
      { path: 'pkgs/b.json', contentType: 'application/json', sizeBytes: 9n },
    ];
    const expectedIndex = [
      { path: 'pkgs/a.json', version: '1.2.3', size: 40 },
      { path: 'pkgs/b.json', version: null, size: 9 },
    ];

    it('generates index.json', function () {
      const index = handler.generateIndex(artifacts);
      expect(index).to.have.length(1);
      expect(index![0]![0]).to.equal('index.json');
      expect(JSON.parse(text(index![0]![1]))).to.deep.equal(expectedIndex);
      expect(JSON.parse(text(handler.generateIndex([])![0]![1]))).to.deep.equal([]);
    });

    it('serves GET /index.json and 404 otherwise', function () {
      const requestHandler = exports[REQUEST_HANDLER]!;
      const context = { repoKey: 'json', baseUrl: 'https://keeper.test/json', downloadBaseUrl: 'https://dl.test' };
      const request = (method: string, requestPath: string) => ({
        method,
        path: requestPath,
        query: '',
        headers: [],
        body: new Uint8Array(),
      });
      const found = requestHandler.handleRequest(request('GET', '/index.json'), context, artifacts);
      expect(found.status).to.equal(200);
      expect(found.headers).to.deep.equal([['content-type', 'application/json']]);
      expect(JSON.parse(text(found.body))).to.deep.equal(expectedIndex);

      for (const [method, requestPath] of [['GET', '/other.json'], ['POST', '/index.json']] as const) {
        const missing = requestHandler.handleRequest(request(method, requestPath), context, artifacts);
        expect(missing.status, `${method} ${requestPath}`).to.equal(404);
        expect(text(missing.body)).to.equal('not found');
      }
    });
  });
});

/**
 * Gives the memory a core module defines a maximum of `maxPages` 64 KiB pages, as the plugin
 * host does to enforce its memory limit. Handles what the fixtures contain: one memory,
 * 32-bit, not shared.
 */
function withMemoryMaximum(module: Uint8Array<ArrayBuffer>, maxPages: number): Uint8Array<ArrayBuffer> {
  const MEMORY_SECTION = 5;
  const HAS_MAXIMUM = 0x01;
  const parts: Uint8Array[] = [module.subarray(0, 8)]; // magic and version
  let offset = 8;
  while (offset < module.length) {
    const id = module[offset]!;
    const size = readLeb128(module, offset + 1);
    const end = size.next + size.value;
    if (id === MEMORY_SECTION) {
      const count = readLeb128(module, size.next);
      expect(count.value, 'memories').to.equal(1);
      const minimum = readLeb128(module, count.next + 1); // after the limits flags byte
      const body = [1, HAS_MAXIMUM, ...leb128(minimum.value), ...leb128(maxPages)];
      parts.push(Uint8Array.of(MEMORY_SECTION, ...leb128(body.length), ...body));
    } else {
      parts.push(module.subarray(offset, end));
    }
    offset = end;
  }
  return Buffer.concat(parts);
}

function readLeb128(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = bytes[offset++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return { value, next: offset };
}

function leb128(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}
