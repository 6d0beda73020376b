import { expect } from 'chai';
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RoutingTable } from '../../supervisor/formats/routing.js';
import { WasmFormatHandler } from '../../supervisor/formats/wasm-handler.js';
import type { CapabilitySet } from '../../supervisor/store/store.js';
import { FormatUnavailable } from '../../supervisor/formats/errors.js';
import { PluginRuntime } from '../../supervisor/runtime/runtime.js';
import { fixtureWasm } from '../support/fixtures.js';

const capabilities: CapabilitySet = { parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false };

describe('routing table: hot swap of a WebAssembly handler', function () {
  this.timeout(60_000);
  let dir: string;
  let runtime: PluginRuntime;
  let routing: RoutingTable;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-reload-'));
    runtime = new PluginRuntime({ cacheDir: path.join(dir, 'cache') });
  });
  after(async () => {
    await Promise.all(routing.retireAll().map((handler) => handler.drain()));
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function startHandler(version: string): Promise<WasmFormatHandler> {
    const component = await runtime.prepare(await fixtureWasm('good'));
    const pool = await runtime.startVersion({
      version,
      component,
      cwd: dir,
      limits: { memoryMb: 64, timeoutMs: 5000, instances: 1 },
      expectedFormatKey: 'demo',
    });
    return new WasmFormatHandler('demo', capabilities, component.sha256, pool);
  }

  it('drops no call while versions are swapped under a stream of calls', async () => {
    routing = new RoutingTable();
    routing.activate('plugin', await startHandler('1.0.0'), true);
    const data = new TextEncoder().encode('DEMO reload');
    let stop = false;
    let completed = 0;
    const failures: unknown[] = [];
    const servedBy = new Set<string>();

    const worker = async () => {
      while (!stop) {
        const handler = routing.require('demo') as WasmFormatHandler;
        try {
          const metadata = await handler.parseMetadata('p', bytesSource(data));
          if (metadata.sizeBytes !== data.byteLength) failures.push(new Error('wrong answer'));
          servedBy.add(handler.version);
          completed++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);

    const retired: WasmFormatHandler[] = [];
    for (const version of ['1.0.1', '1.0.2', '1.0.3']) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const next = await startHandler(version);
      const previous = routing.replace('plugin', next) as WasmFormatHandler;
      retired.push(previous);
      await previous.drain();
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    stop = true;
    await Promise.all(workers);

    expect(failures).to.deep.equal([]);
    expect(completed).to.be.greaterThan(500);
    expect([...servedBy].sort()).to.deep.equal(['1.0.0', '1.0.1', '1.0.2', '1.0.3']);
    for (const old of retired) {
      expect(old.state()).to.equal('stopped');
      expect(old.pids()).to.deep.equal([]);
    }
  });

  it('a version swapped out in the middle of a use answers the rest of it, then drains', async () => {
    routing = new RoutingTable();
    routing.activate('plugin', await startHandler('1.0.0'), true);
    const data = new TextEncoder().encode('DEMO use');
    let draining: Promise<void> | undefined;
    const versions = await routing.use('demo', async (handler) => {
      const first = await handler.parseMetadata('p', bytesSource(data));
      const old = routing.replace('plugin', await startHandler('1.0.1'))!;
      draining = old.drain();
      // The drain waits for this use: the second call still runs on the old version.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await handler.parseMetadata('p', bytesSource(data));
      return [first.sizeBytes, second.sizeBytes, (handler as WasmFormatHandler).version];
    });
    expect(versions).to.deep.equal([data.byteLength, data.byteLength, '1.0.0']);
    await draining;
    expect((routing.require('demo') as WasmFormatHandler).version).to.equal('1.0.1');
  });

  it('answers format_unavailable for a key nobody serves', () => {
    expect(() => new RoutingTable().require('nothing')).to.throw(FormatUnavailable, '"nothing"');
  });
});
