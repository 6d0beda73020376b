/**
 * hardening: what installing a hostile component costs everybody else. `/health` is called
 * back to back (one at a time) while nothing else happens (baseline), then while a ZIP whose
 * component exports 20,000 functions (~4 MB, about 47 s of jco transpiling on the event loop
 * before the limits) is installed over and over (refused with 422), then while a component
 * just under the function limit is installed (transpiled in the worker) and uninstalled.
 * Target: `/health` p99 under 50 ms during the installs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../supervisor/config.js';
import { COMPONENT_LIMITS } from '../supervisor/runtime/component.js';
import { startSupervisor } from '../supervisor/supervisor.js';
import { manyFunctionsComponent } from '../test/support/many-functions.js';
import { makeZip } from '../test/support/zips.js';
import { ms, note, now, report, Samples } from './lib.js';

const HOSTILE_FUNCTIONS = 20_000;
/** The good.wat handler brings 4 canonical functions of its own. */
const ALLOWED_FUNCTIONS = COMPONENT_LIMITS.maxFunctions - 10;

export async function run(): Promise<void> {
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

  /** `/health` one request at a time until `busy` settles (or for `idleMs` when there is none). */
  const probeHealth = async (busy: Promise<unknown> | null, idleMs: number): Promise<Samples> => {
    const samples = new Samples();
    let done = false;
    void busy?.finally(() => (done = true));
    const until = now() + idleMs;
    while (busy ? !done : now() < until) {
      const started = now();
      const answer = await fetch(`${supervisor.url}/health`);
      await answer.arrayBuffer();
      samples.add(started, now() - started);
    }
    return samples;
  };

  try {
    await probeHealth(null, ms(500)); // warm up
    const idle = await probeHealth(null, ms(3000));

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
    const duringHostile = await probeHealth(hostileInstalls, 0);
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
    const duringAllowed = await probeHealth(allowedInstalls, 0);
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
