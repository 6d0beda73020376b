/**
 * hardening: what installing a hostile component costs everybody else. `/health` is called
 * back to back (one at a time) while nothing else happens (baseline), then while a ZIP whose
 * component exports 20,000 functions (~4 MB, about 47 s of jco transpiling on the event loop
 * before the limits) is installed over and over (refused with 422), then while a component
 * just under the function limit is installed (transpiled in the worker) and uninstalled.
 * Target: `/health` p99 under 50 ms during the installs.
 *
 * Then (`runExtFlood`, also on its own: `node -e "import('./dist/bench/hardening.js').then((m) => m.runExtFlood())"`):
 * what anonymous `/ext` calls on a public repository of 3,000 artifacts cost everybody else.
 * `/health` is probed back to back, idle and while EXT_CONCURRENCY clients call `/ext` in
 * loops (the puppet fixture plugin, 1 instance; a refused client waits its `Retry-After`);
 * each call hands the plugin the repository's artifact list. Figures: `/health` p99, /ext calls per second, and how many were refused (503).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../supervisor/config.js';
import { COMPONENT_LIMITS } from '../supervisor/runtime/component.js';
import { openStore } from '../supervisor/store/open.js';
import { startSupervisor } from '../supervisor/supervisor.js';
import { fixtureWasm, repoRoot } from '../test/support/fixtures.js';
import { readFile } from 'node:fs/promises';
import { manyFunctionsComponent } from '../test/support/many-functions.js';
import { makeZip } from '../test/support/zips.js';
import { ms, note, now, probeHealth, report, Samples } from './lib.js';

const HOSTILE_FUNCTIONS = 20_000;
/** The good.wat handler brings 4 canonical functions of its own. */
const ALLOWED_FUNCTIONS = COMPONENT_LIMITS.maxFunctions - 10;

export async function run(): Promise<void> {
  await runComponentInstalls();
  await runExtFlood();
}

const EXT_ARTIFACTS = 3000;
const EXT_CONCURRENCY = 40;

export async function runExtFlood(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-ext-'));
  const token = randomBytes(16).toString('hex');
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: token });
  const supervisor = await startSupervisor(config, pino({ level: 'silent' }));
  const headers = { authorization: `Bearer ${token}` };
  const store = await openStore(config);
  try {
    const toml = await readFile(path.join(repoRoot, 'test/fixtures/puppet/plugin.toml'), 'utf8');
    const form = new FormData();
    const zip = makeZip([
      { name: 'plugin.toml', data: toml },
      { name: 'plugin.wasm', data: Buffer.from(await fixtureWasm('puppet')) },
    ]);
    form.set('file', new Blob([new Uint8Array(zip)]), 'puppet.zip');
    const installed = await fetch(`${supervisor.url}/api/v1/plugins/install/zip`, { method: 'POST', headers, body: form });
    if (installed.status !== 201) throw new Error(`the puppet install answered ${installed.status}: ${await installed.text()}`);
    const created = await fetch(`${supervisor.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'flood', format: 'puppet', public: true }),
    });
    const repository = (await created.json()) as { id: string };
    if (created.status !== 201) throw new Error(`the repository answered ${created.status}`);
    // The rows only (the bytes play no part in what /ext costs), written as uploads would.
    await store.transaction(async (tx) => {
      for (let i = 0; i < EXT_ARTIFACTS; i++) {
        const name = `some-fairly-long-package-name-${i}`;
        await tx.insertArtifact({
          id: randomUUID(),
          repository_id: repository.id,
          path: `packages/${name}/${i % 50}.${i % 7}.${i}/${name}-${i % 50}.${i % 7}.${i}-py3-none-any.whl`,
          size_bytes: 1000 + i,
          checksum_sha256: createHash('sha256').update(String(i)).digest('hex'),
          version: `${i % 50}.${i % 7}.${i}`,
          content_type: 'application/zip',
          metadata: {},
        });
      }
    });
    const health = (busy: Promise<unknown> | null, idleMs: number) => probeHealth(supervisor.url, busy, idleMs);
    await health(null, ms(500));
    const idle = await health(null, ms(3000));
    let served = 0;
    let refused = 0;
    const until = now() + ms(8000);
    const flood = Promise.all(
      Array.from({ length: EXT_CONCURRENCY }, async () => {
        while (now() < until) {
          const answer = await fetch(`${supervisor.url}/ext/puppet/flood/simple/`);
          await answer.arrayBuffer();
          if (answer.status === 200) served++;
          else if (answer.status === 503) {
            refused++;
            // A well-behaved client waits as told.
            await new Promise((resolve) => setTimeout(resolve, 1000 * Number(answer.headers.get('retry-after') ?? 1)));
          } else throw new Error(`/ext answered ${answer.status}`);
        }
      }),
    );
    const during = await health(flood, 0);
    await flood;
    note(`ext flood: ${served} served, ${refused} refused (503), ${during.count} /health probes`);
    const metric = `${EXT_CONCURRENCY}_concurrent_ext_on_${EXT_ARTIFACTS}_artifacts`;
    report({ bench: 'hardening', metric: `health_p99_during_${metric}`, value: during.percentile(99), unit: 'ms', baseline: idle.percentile(99) });
    report({ bench: 'hardening', metric: `health_max_during_${metric}`, value: during.max(), unit: 'ms', baseline: idle.max() });
    report({ bench: 'hardening', metric: `ext_served_per_s_${metric}`, value: served / (ms(8000) / 1000), unit: 'calls/s' });
    report({ bench: 'hardening', metric: `ext_refused_per_s_${metric}`, value: refused / (ms(8000) / 1000), unit: 'calls/s' });
  } finally {
    await store.close();
    await supervisor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runComponentInstalls(): Promise<void> {
  note(`building the ${HOSTILE_FUNCTIONS}-function component (cached after the first run; the first build takes ~40 s)`);
  const hostile = await manyFunctionsComponent(HOSTILE_FUNCTIONS);
  const allowed = await manyFunctionsComponent(ALLOWED_FUNCTIONS);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-hardening-'));
  const token = randomBytes(16).toString('hex');
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: token });
  const supervisor = await startSupervisor(config, pino({ level: 'silent' }));
  const headers = { authorization: `Bearer ${token}` };
  const zipOf = (name: string, wasm: Uint8Array) =>
    makeZip([
      { name: 'plugin.toml', data: `[plugin]\nname = "${name}"\nversion = "1.0.0"\n[format]\nkey = "demo"\ndisplay_name = "Bench"\n` },
      { name: 'plugin.wasm', data: Buffer.from(wasm) },
    ]);
  const install = async (zip: Buffer): Promise<{ status: number; id?: string }> => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(zip)]), 'plugin.zip');
    const answer = await fetch(`${supervisor.url}/api/v1/plugins/install/zip`, { method: 'POST', headers, body: form });
    const body = (await answer.json()) as { id?: string };
    return { status: answer.status, id: body.id };
  };

  const health = (busy: Promise<unknown> | null, idleMs: number) => probeHealth(supervisor.url, busy, idleMs);

  try {
    await health(null, ms(500)); // warm up
    const idle = await health(null, ms(3000));

    const hostileZip = zipOf('hostile', hostile);
    note(`hostile ZIP: ${Math.round(hostileZip.length / 1024)} KB, component ${Math.round(hostile.length / 1024)} KB`);
    const refusalMs: number[] = [];
    const hostileInstalls = (async () => {
      const until = now() + ms(3000);
      while (now() < until) {
        const started = now();
        const { status } = await install(hostileZip);
        if (status !== 422) throw new Error(`the hostile install answered ${status}, not 422`);
        refusalMs.push(now() - started);
      }
    })();
    const duringHostile = await health(hostileInstalls, 0);
    await hostileInstalls;

    const allowedZip = zipOf('allowed', allowed);
    const installMs: number[] = [];
    const allowedInstalls = (async () => {
      for (let round = 0; round < 3; round++) {
        const started = now();
        const { status, id } = await install(allowedZip);
        if (status !== 201) throw new Error(`the ${ALLOWED_FUNCTIONS}-function install answered ${status}, not 201`);
        installMs.push(now() - started);
        const removed = await fetch(`${supervisor.url}/api/v1/plugins/${id}`, { method: 'DELETE', headers });
        if (removed.status !== 204) throw new Error(`uninstall answered ${removed.status}`);
      }
    })();
    const duringAllowed = await health(allowedInstalls, 0);
    await allowedInstalls;

    note(`idle ${idle.count} probes, during hostile installs ${duringHostile.count} (${refusalMs.length} refusals), during allowed installs ${duringAllowed.count} (${installMs.map(Math.round).join(', ')} ms each)`);
    const p99 = (samples: Samples) => samples.percentile(99);
    report({ bench: 'hardening', metric: 'health_p99_idle', value: p99(idle), unit: 'ms' });
    report({ bench: 'hardening', metric: `health_p99_during_${HOSTILE_FUNCTIONS}_function_install`, value: p99(duringHostile), unit: 'ms', baseline: p99(idle) });
    report({ bench: 'hardening', metric: `health_max_during_${HOSTILE_FUNCTIONS}_function_install`, value: duringHostile.max(), unit: 'ms', baseline: idle.max() });
    report({ bench: 'hardening', metric: `refusal_of_${HOSTILE_FUNCTIONS}_function_install`, value: refusalMs.sort((a, b) => a - b)[Math.floor(refusalMs.length / 2)]!, unit: 'ms' });
    report({ bench: 'hardening', metric: `health_p99_during_${ALLOWED_FUNCTIONS}_function_install`, value: p99(duringAllowed), unit: 'ms', baseline: p99(idle) });
    report({ bench: 'hardening', metric: `install_of_${ALLOWED_FUNCTIONS}_function_component`, value: installMs.sort((a, b) => a - b)[1]!, unit: 'ms' });
  } finally {
    await supervisor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
