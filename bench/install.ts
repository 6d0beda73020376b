/**
 * install: time from the install request to the first successful call, through the real
 * service (HTTP, SQLite, sandboxed children), for the WAT fixture and the JavaScript
 * example. The ZIP upload of each is timed to the 201 answer, then the format test endpoint
 * is called until it succeeds. Baseline: starting the same component's child process alone
 * (spawn to ready), measured in the same run: what an install adds on top of a start.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../supervisor/config.js';
import { startSupervisor } from '../supervisor/supervisor.js';
import { fixtureWasm } from '../test/support/fixtures.js';
import { makeZip } from '../test/support/zips.js';
import { BenchRuntime, median, note, now, report, type FixtureName } from './lib.js';

interface Case {
  fixture: FixtureName;
  label: string;
  formatKey: string;
  artifact: { path: string; content: string };
}

const CASES: Case[] = [
  { fixture: 'good', label: 'wat', formatKey: 'demo', artifact: { path: 'a.demo', content: 'DEMO bench' } },
  {
    fixture: 'js-handler',
    label: 'js',
    formatKey: 'json-pkg',
    artifact: { path: 'left-pad.json', content: JSON.stringify({ name: 'left-pad', version: '1.3.0' }) },
  },
];
const ROUNDS = 3;

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-install-'));
  const token = randomBytes(16).toString('hex');
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: token });
  const supervisor = await startSupervisor(config, pino({ level: 'silent' }));
  const env = await BenchRuntime.create();
  const headers = { authorization: `Bearer ${token}` };
  try {
    for (const testCase of CASES) {
      const wasm = await fixtureWasm(testCase.fixture);
      const toml = `[plugin]\nname = "bench-${testCase.label}"\nversion = "1.0.0"\n[format]\nkey = "${testCase.formatKey}"\ndisplay_name = "Bench"\n`;
      const zip = makeZip([
        { name: 'plugin.toml', data: toml },
        { name: 'plugin.wasm', data: wasm },
      ]);
      const installMs: number[] = [];
      const firstCallMs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const form = new FormData();
        form.set('file', new Blob([new Uint8Array(zip)]), 'plugin.zip');
        const started = now();
        const installed = await fetch(`${supervisor.url}/api/v1/plugins/install/zip`, { method: 'POST', headers, body: form });
        const plugin = (await installed.json()) as { id: string; message?: string };
        if (installed.status !== 201) throw new Error(`install answered ${installed.status}: ${plugin.message}`);
        installMs.push(now() - started);
        for (;;) {
          const tested = await fetch(`${supervisor.url}/api/v1/formats/${testCase.formatKey}/test`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify(testCase.artifact),
          });
          if (tested.status === 200) break;
          if (now() - started > 60_000) throw new Error(`no successful call within 60 s (last status ${tested.status})`);
        }
        firstCallMs.push(now() - started);
        const removed = await fetch(`${supervisor.url}/api/v1/plugins/${plugin.id}`, { method: 'DELETE', headers });
        if (removed.status !== 204) throw new Error(`uninstall answered ${removed.status}`);
      }
      const startMs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const started = now();
        const pool = await env.start(testCase.fixture, { memoryMb: 64, timeoutMs: 10_000, instances: 1 });
        startMs.push(now() - started);
        await pool.drain();
      }
      note(`install ${testCase.label}: install ${installMs.map(Math.round).join(', ')} ms; first call ${firstCallMs.map(Math.round).join(', ')} ms; bare start ${startMs.map(Math.round).join(', ')} ms`);
      report({ bench: 'install', metric: `install_to_201_${testCase.label}`, value: median(installMs), unit: 'ms', baseline: median(startMs) });
      report({ bench: 'install', metric: `install_to_first_call_${testCase.label}`, value: median(firstCallMs), unit: 'ms', baseline: median(startMs) });
    }
  } finally {
    await env.close();
    await supervisor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
