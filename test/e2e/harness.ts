// End-to-end harness: the real supervisor (startSupervisor over loadConfig) on 127.0.0.1:0,
// on a fresh database of one engine, called with fetch; plus the small helpers the
// end-to-end tests share (plugin manifests, folders, ZIPs, multipart forms, processes).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../supervisor/config.js';
import { startSupervisor, type Supervisor } from '../../supervisor/supervisor.js';
import { TokenService } from '../../supervisor/services/tokens.js';
import { openStore } from '../../supervisor/store/open.js';
import type { EngineFixture } from '../support/engines.js';
import { fixtureWasm, type FixtureName } from '../support/fixtures.js';
import { callSupervisor, type Answer, type CallOptions } from '../support/http.js';
import { makeZip } from '../support/zips.js';

export type { Answer, CallOptions };

export interface E2E {
  readonly engine: EngineFixture['engine'];
  /** Base URL of the running supervisor (changes on restart). */
  url: string;
  readonly adminToken: string;
  readonly dataDir: string;
  /** The one folder local installs may read (PLUGINS_LOCAL_ROOTS). */
  readonly localRoot: string;
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
  /** A new API token of `role`, created as the CLI does (through the store). */
  createToken(role: 'admin' | 'reader'): Promise<string>;
  /** Closes the supervisor and starts a new one on the same DATA_DIR and database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** `env`: more settings, over the harness's own (e.g. `{ TRUST_PROXY: 'true' }`). */
export async function startE2E(engine: EngineFixture, env: Record<string, string> = {}): Promise<E2E> {
  const store = await engine.create();
  const localRoot = await mkdtemp(path.join(os.tmpdir(), 'pk-e2e-local-'));
  const adminToken = randomBytes(24).toString('base64url');
  const config = () => {
    const loaded = loadConfig({
      DATA_DIR: store.dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_TOKEN: adminToken,
      PLUGINS_LOCAL_ROOTS: localRoot,
      PLUGINS_GIT_ALLOW_PRIVATE: 'true',
      LOG_LEVEL: 'silent',
      ...env,
    });
    loaded.databaseUrl = store.databaseUrl;
    return loaded;
  };
  let supervisor: Supervisor | undefined = await startSupervisor(config());

  const e2e: E2E = {
    engine: engine.engine,
    url: supervisor.url,
    adminToken,
    dataDir: store.dataDir,
    localRoot,
    call(method, target, options = {}) {
      return callSupervisor(e2e.url, adminToken, method, target, options);
    },
    async createToken(role) {
      const loaded = config();
      const tokenStore = await openStore(loaded);
      try {
        return (await new TokenService(tokenStore, loaded).create({ role, name: `e2e-${role}` })).token;
      } finally {
        await tokenStore.close();
      }
    },
    async restart() {
      await supervisor?.close();
      supervisor = undefined;
      supervisor = await startSupervisor(config());
      e2e.url = supervisor.url;
    },
    async close() {
      await supervisor?.close();
      supervisor = undefined;
      await rm(localRoot, { recursive: true, force: true });
    },
  };
  return e2e;
}

/**
 * Back to a clean service between tests: every repository and plugin deleted (plugins with
 * force), every disabled format enabled again; each step must succeed.
 */
export async function resetService(e2e: E2E): Promise<void> {
  const expectStatus = async (answer: Promise<Answer>, status: number) => {
    const { status: got, text } = await answer;
    if (got !== status) throw new Error(`cleaning up: expected ${status}, got ${got}: ${text}`);
  };
  for (const repository of (await e2e.call('GET', '/api/v1/repositories')).json.items) {
    await expectStatus(e2e.call('DELETE', `/api/v1/repositories/${repository.key}`), 204);
  }
  for (const plugin of (await e2e.call('GET', '/api/v1/plugins?per_page=100')).json.items) {
    await expectStatus(e2e.call('DELETE', `/api/v1/plugins/${plugin.id}?force=true`), 204);
  }
  for (const format of (await e2e.call('GET', '/api/v1/formats?enabled=false')).json.items) {
    await expectStatus(e2e.call('POST', `/api/v1/formats/${format.format_key}/enable`), 200);
  }
}

/** plugin.toml text; `extra` is appended (more sections or keys). */
export function manifest(name: string, version: string, key: string, extra = ''): string {
  return `[plugin]\nname = "${name}"\nversion = "${version}"\n\n[format]\nkey = "${key}"\ndisplay_name = "Demo"\nextensions = [".demo"]\n${extra}`;
}

/** A plugin folder `folder` under the local root (replacing what was there): plugin.toml and a fixture's component. */
export async function pluginFolder(root: string, folder: string, toml: string | null, wasm: FixtureName | null): Promise<string> {
  const dir = path.join(root, folder);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (toml !== null) await writeFile(path.join(dir, 'plugin.toml'), toml);
  if (wasm !== null) await writeFile(path.join(dir, 'plugin.wasm'), await fixtureWasm(wasm));
  return dir;
}

/** A plugin ZIP with the package under one top folder. */
export async function pluginZip(toml: string | null, wasm: FixtureName | null): Promise<Buffer> {
  const entries = [];
  if (toml !== null) entries.push({ name: 'pkg/plugin.toml', data: toml });
  if (wasm !== null) entries.push({ name: 'pkg/plugin.wasm', data: (await fixtureWasm(wasm)).slice() });
  return makeZip(entries);
}

/** A multipart form with one file in `field`, and text fields. */
export function form(field: string, bytes: Uint8Array, filename: string, fields: Record<string, string> = {}): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  data.append(field, new Blob([new Uint8Array(bytes)]), filename);
  return data;
}

export { isAlive } from '../support/assertions.js';

/**
 * Every live process below this one (the supervisor runs in this process, so its plugin
 * children are ours), read from /proc; zombies do not count.
 */
export async function descendants(): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (stat === null) continue;
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state !== 'Z') parents.set(Number(entry), Number(ppid));
  }
  const found: number[] = [];
  const below = (parent: number) => {
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        found.push(pid);
        below(pid);
      }
    }
  };
  below(process.pid);
  return found.sort((a, b) => a - b);
}

/** Polls `probe` until it returns true or `ms` pass; returns the last answer. */
export async function eventually(probe: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
