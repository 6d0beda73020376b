// Cluster harness: several real supervisors (`node dist/supervisor/main.js`) as child
// processes on one fresh PostgreSQL schema, each with its own DATA_DIR and NODE_ID, one
// shared blob folder, short heartbeats. Each node's output goes to a log file (shown when a
// test fails: see `failed()`); `close()` kills every child.
//
//   const cluster = await startCluster();
//   const a = await cluster.start('a');            // waits for `plugin-keeper listening`
//   await a.call('GET', '/api/v1/cluster/nodes');
//   await a.kill('SIGKILL'); await a.restart();
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { postgresFixture, type EngineFixture } from '../support/engines.js';
import { repoRoot } from '../support/fixtures.js';
import { callSupervisor, type Answer, type CallOptions } from '../support/http.js';

export type { Answer, CallOptions };

/** Short enough for tests, long enough for two cores shared by parallel runs. */
export const TEST_HEARTBEAT_MS = 200;
export const TEST_NODE_TIMEOUT_MS = 2000;

const MAIN = path.join(repoRoot, 'dist', 'supervisor', 'main.js');
const START_TIMEOUT_MS = 30_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeProcess {
  readonly nodeId: string;
  readonly dataDir: string;
  /** Every start of this node (restarts included) appends here. */
  readonly logFile: string;
  /** Of the current process; both change on restart. */
  url: string;
  pid: number;
  /** Settles when the current process exits. */
  exited: Promise<Exit>;
  readonly running: boolean;
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
  /** Sends `signal` to the supervisor process, without waiting. */
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` (SIGKILL by default) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** Stops the process if it runs (SIGTERM) and starts it again: same NODE_ID, DATA_DIR, env. */
  restart(options?: Pick<StartOptions, 'onListening'>): Promise<void>;
  /** The JSON log lines written so far (of every start), parsed. */
  logLines(): Promise<Array<Record<string, any>>>;
}

export interface StartOptions {
  /** More environment, over the harness's (e.g. `{ SHUTDOWN_GRACE_MS: '1000' }`). */
  env?: Record<string, string>;
  /** Called with the URL as soon as the node listens; `start()` waits for it (e.g. to probe `/ready` during start-up). */
  onListening?(url: string): void | Promise<void>;
  /** Another process's DATA_DIR (to see it refused); default: a new one. */
  dataDir?: string;
}

export interface Cluster {
  readonly adminToken: string;
  readonly databaseUrl: string;
  /** The BLOB_STORE folder every node shares. */
  readonly blobRoot: string;
  /** The one folder local installs may read (PLUGINS_LOCAL_ROOTS), the same for every node. */
  readonly localRoot: string;
  /** Every process started, in order (a node started twice under one id appears twice). */
  readonly nodes: NodeProcess[];
  /** Starts a supervisor with this NODE_ID (and a new DATA_DIR unless told); resolves once it listens. */
  start(nodeId: string, options?: StartOptions): Promise<NodeProcess>;
  /** Prints every node's log file path and tail to stderr and keeps the files; for a failed test. */
  failed(): Promise<void>;
  /** Kills every child (SIGKILL), drops the schema and removes the folders (not kept logs). */
  close(): Promise<void>;
}

/** `env`: settings for every node, over the harness's own. */
export async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const database: EngineFixture = postgresFixture();
  const { databaseUrl } = await database.create();
  const root = await mkdtemp(path.join(os.tmpdir(), 'pk-cluster-'));
  const blobRoot = path.join(root, 'blobs');
  const localRoot = path.join(root, 'local');
  await mkdir(localRoot);
  const adminToken = randomBytes(24).toString('base64url');
  const nodes: SupervisorProcess[] = [];
  let keepLogs = false;

  const baseEnv = (): Record<string, string> => ({
    // Only what Node and the tools need from ours: no DATABASE_URL, tokens... of the test run.
    ...pick(process.env, ['PATH', 'HOME', 'LANG', 'TMPDIR']),
    DATABASE_URL: databaseUrl!,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN: adminToken,
    BLOB_STORE: `file:${blobRoot}`,
    PLUGINS_LOCAL_ROOTS: localRoot,
    PLUGINS_GIT_ALLOW_PRIVATE: 'true',
    CLUSTER_HEARTBEAT_MS: String(TEST_HEARTBEAT_MS),
    CLUSTER_NODE_TIMEOUT_MS: String(TEST_NODE_TIMEOUT_MS),
    LOG_LEVEL: 'info',
    ...env,
  });

  const cluster: Cluster = {
    adminToken,
    databaseUrl: databaseUrl!,
    blobRoot,
    localRoot,
    nodes,
    async start(nodeId, options = {}) {
      const dataDir = options.dataDir ?? (await mkdtemp(path.join(root, `${nodeId}-data-`)));
      const node = new SupervisorProcess(nodeId, dataDir, path.join(root, `${nodeId}-${nodes.length}.log`), { ...baseEnv(), ...options.env, NODE_ID: nodeId, DATA_DIR: dataDir }, adminToken);
      nodes.push(node);
      await node.launch(options.onListening);
      return node;
    },
    async failed() {
      keepLogs = true;
      for (const node of nodes) {
        const text = await readFile(node.logFile, 'utf8').catch(() => '');
        process.stderr.write(`\n--- ${node.nodeId} (pid ${node.pid}): ${node.logFile}, last lines:\n${text.split('\n').slice(-40).join('\n')}\n`);
      }
    },
    async close() {
      await Promise.all(nodes.map((node) => (node.running ? node.kill('SIGKILL') : undefined)));
      await Promise.all(nodes.map((node) => node.closeLog()));
      await database.dispose();
      if (keepLogs) {
        // Keep the logs, drop the rest.
        await Promise.all([...nodes.map((node) => node.dataDir), blobRoot, localRoot].map((dir) => rm(dir, { recursive: true, force: true })));
      } else {
        await rm(root, { recursive: true, force: true });
      }
    },
  };
  return cluster;
}

class SupervisorProcess implements NodeProcess {
  url = '';
  pid = 0;
  exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private child: ChildProcess | undefined;
  private exit: Exit | undefined;
  private log: WriteStream | undefined;

  constructor(
    readonly nodeId: string,
    readonly dataDir: string,
    readonly logFile: string,
    private readonly env: Record<string, string>,
    private readonly adminToken: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  /** Starts the process; resolves with its URL once it logs that it listens. */
  async launch(onListening?: (url: string) => void | Promise<void>): Promise<void> {
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [MAIN], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exit = undefined;
    this.pid = child.pid!;
    this.exited = new Promise<Exit>((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
    child.stderr!.pipe(this.log, { end: false });
    const lines = createInterface({ input: child.stdout! });
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.nodeId} did not listen within ${START_TIMEOUT_MS} ms; log: ${this.logFile}`)), START_TIMEOUT_MS);
      let listening = false;
      lines.on('line', (line) => {
        this.log!.write(`${line}\n`);
        // Only until it listens: afterwards, parsing every access line would cost this process (a benchmark's client) CPU.
        if (listening) return;
        const entry = parseJson(line);
        if (entry?.msg === 'plugin-keeper listening') {
          listening = true;
          clearTimeout(timer);
          resolve(entry.url);
        }
      });
      void this.exited.then(async ({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.nodeId} exited (code ${code}, signal ${signal}) before listening:\n${await this.tail()}`));
      });
    });
    this.url = await listening;
    await onListening?.(this.url);
  }

  call(method: string, target: string, options?: CallOptions): Promise<Answer> {
    return callSupervisor(this.url, this.adminToken, method, target, options);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child!.kill(signal);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    this.signal(signal);
    return this.exited;
  }

  async restart(options: Pick<StartOptions, 'onListening'> = {}): Promise<void> {
    if (this.running) await this.kill('SIGTERM');
    await this.launch(options.onListening);
  }

  async logLines(): Promise<Array<Record<string, any>>> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').flatMap((line) => parseJson(line) ?? []);
  }

  async closeLog(): Promise<void> {
    const log = this.log;
    this.log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(() => resolve()));
  }

  private async tail(): Promise<string> {
    // Lines written to the stream may still be on their way to the file.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return (await readFile(this.logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
  }
}

function parseJson(line: string): Record<string, any> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]!]])));
}
