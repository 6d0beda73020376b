// The operators' commands (ps, top, events, plugins ...) through the real bin against a real
// supervisor (in this process, SQLite) with real plugin processes and a real Git server on
// loopback, and against two supervisor processes on one PostgreSQL; `top` in a real
// pseudo-terminal (tmux). `logs` against the real routes, and against a small fake of them
// where a connection must drop at a chosen line (see the last describe).
import { expect } from 'chai';
import { execa } from 'execa';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sqliteFixture } from '../support/engines.js';
import { fixtureWasm } from '../support/fixtures.js';
import { startGitServer, TestRepo, type GitServer } from '../support/git-server.js';
import { startCluster, type Cluster, type NodeProcess } from '../cluster/harness.js';
import { eventually, manifest, pluginFolder, pluginZip, startE2E, type E2E } from '../e2e/harness.js';
import { BIN, type CliResult, pluginKeeper } from './helpers.js';
import { SHELL_PROMPT, TmuxPane } from './tmux.js';

const UNKNOWN_ID = '0b6f3a52-8d0e-4c1e-9f55-3c2d7a1b9e40';
const PS_HEADER = ['PLUGIN', 'VERSION', 'NODE', 'PID', 'STATE', 'UPTIME', 'RSS', 'WASM MEM', 'CPU', 'IN FLIGHT', 'CALLS', 'ERRORS', 'RESTARTS'];

/** A port nothing listens on: one the system gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The rows of a table as the CLI prints it: cells split on two or more spaces. */
function tableRows(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/ {2,}/));
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
function bytesOf(cell: string): number {
  const [value, unit] = cell.split(' ');
  return Number(value) * UNITS[unit!]!;
}

describe('plugin-keeper ps, top, events and plugins against a running service', function () {
  this.timeout(120_000);
  const engine = sqliteFixture();
  let e2e: E2E;
  let gitRoot: string;
  let gitServer: GitServer;
  let zipFile: string;
  let installs: Record<'zip' | 'git' | 'dir', CliResult>;

  /** The bin with the service's URL and the admin token, and `env` over them. */
  const cli = (args: string[], env: Record<string, string> = {}) =>
    pluginKeeper(args, { env: { PLUGIN_KEEPER_URL: e2e.url, PLUGIN_KEEPER_TOKEN: e2e.adminToken, ...env } });
  const plugin = async (name: string) => {
    const list = await e2e.call('GET', '/api/v1/plugins?per_page=100');
    return list.json.items.find((candidate: { name: string }) => candidate.name === name);
  };

  before(async () => {
    e2e = await startE2E(engine);
    gitRoot = await mkdtemp(path.join(os.tmpdir(), 'pk-cli-git-'));
    const repo = await TestRepo.create(gitRoot, 'plugins');
    await repo.commit({ 'formats/v2/plugin.toml': manifest('git-demo', '2.0.0', 'demo-v2'), 'formats/v2/plugin.wasm': await fixtureWasm('good-v2') });
    gitServer = await startGitServer(gitRoot, 'smart');
    zipFile = path.join(gitRoot, 'zipped.zip');
    await writeFile(zipFile, await pluginZip(manifest('zipped', '1.0.0', 'demo'), 'good'));
    const dir = await pluginFolder(e2e.localRoot, 'trap', manifest('local-trap', '1.0.0', 'trap'), 'trap');
    installs = {
      zip: await cli(['plugins', 'install', zipFile]),
      git: await cli(['plugins', 'install', `${gitServer.url}/plugins.git`, '--ref', 'main', '--path', 'formats/v2', '--json']),
      dir: await cli(['plugins', 'install', dir]),
    };
  });
  after(async () => {
    await e2e?.close();
    await gitServer?.close();
    await rm(gitRoot, { recursive: true, force: true });
    await engine.dispose();
  });

  describe('plugins install picks the route by its argument', () => {
    it('uploads a .zip file', async () => {
      expect(installs.zip.exitCode, installs.zip.stderr).to.equal(0);
      const installed = await plugin('zipped');
      expect(installed).to.include({ source_type: 'wasm_zip', status: 'active', version: '1.0.0' });
      expect(installs.zip.stdout).to.equal(`installed zipped 1.0.0 (id ${installed.id}): active`);
    });

    it('has the service clone a git URL at --ref, from --path, and prints the plugin with --json', async () => {
      expect(installs.git.exitCode, installs.git.stderr).to.equal(0);
      const printed = JSON.parse(installs.git.stdout);
      expect(printed).to.include({ name: 'git-demo', version: '2.0.0', source_type: 'wasm_git', source_ref: 'main', status: 'active' });
      expect(printed.source_url).to.equal(`${gitServer.url}/plugins.git`);
    });

    it('has the service read a directory', async () => {
      expect(installs.dir.exitCode, installs.dir.stderr).to.equal(0);
      expect(await plugin('local-trap')).to.include({ source_type: 'wasm_local', status: 'active' });
    });

    it('refuses, with usage and exit 2, what is none of the three, without calling the service', async () => {
      const missing = await cli(['plugins', 'install', path.join(gitRoot, 'nothing-here.zip')]);
      expect(missing.exitCode).to.equal(2);
      expect(missing.stderr).to.include('is neither a .zip file, a git URL (http://, https://, git@) nor a directory');
      const refOnZip = await cli(['plugins', 'install', zipFile, '--ref', 'main']);
      expect(refOnZip.exitCode).to.equal(2);
      expect(refOnZip.stderr).to.include('--ref and --path are for a git URL only');
    });

    it('shows the service\'s refusal as a sentence, exit 1: the same plugin again is a 409', async () => {
      const again = await cli(['plugins', 'install', zipFile]);
      expect(again.exitCode).to.equal(1);
      expect(again.stderr).to.match(/^plugin-keeper: .*zipped.* \(409 plugin_already_exists\)$/m);
    });
  });

  describe('plugins ls', () => {
    it('lists every plugin with status, format, source and limits', async () => {
      const result = await cli(['plugins', 'ls']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const [header, ...rows] = tableRows(result.stdout);
      expect(header).to.deep.equal(['NAME', 'VERSION', 'STATUS', 'FORMAT', 'SOURCE', 'MEMORY', 'TIMEOUT', 'INSTANCES', 'ID']);
      const zipped = await plugin('zipped');
      expect(rows).to.deep.include(['zipped', '1.0.0', 'active', 'demo', 'wasm_zip', '64 MB', '5 s', '1', zipped.id]);
      expect(rows.map((row) => row[0]).sort()).to.deep.equal(['git-demo', 'local-trap', 'zipped']);
    });

    it('--json: {items} as the service gives them', async () => {
      const result = await cli(['plugins', 'ls', '--json']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const { items } = JSON.parse(result.stdout);
      expect(items.map((item: { name: string }) => item.name).sort()).to.deep.equal(['git-demo', 'local-trap', 'zipped']);
      expect(items[0]).to.have.keys(Object.keys((await e2e.call('GET', `/api/v1/plugins/${items[0].id}`)).json));
    });
  });

  describe('ps', () => {
    it('shows one row per process with its figures, matching GET /processes', async () => {
      const result = await cli(['ps']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const [header, ...rows] = tableRows(result.stdout);
      expect(header).to.deep.equal(PS_HEADER);
      expect(rows.map((row) => row[0]).sort()).to.deep.equal(['git-demo', 'local-trap', 'zipped']);
      const zipped = await plugin('zipped');
      const [process] = (await e2e.call('GET', `/api/v1/plugins/${zipped.id}/processes`)).json.items;
      const row = rows.find((candidate) => candidate[0] === 'zipped')!;
      expect(row.slice(0, 5)).to.deep.equal(['zipped', '1.0.0', process.node_id, String(process.pid), 'ready']);
      expect(row[5]).to.match(/^\d+[smhd]( \d+[smhd])?$/);
      expect(bytesOf(row[6]!)).to.be.within(1024 * 1024, 1024 ** 3);
      expect(row[7]).to.match(/^[\d.]+ (B|KiB|MiB)$/);
      expect(row[8]).to.match(/^\d+\.\d%$/);
      expect(row.slice(9).map(Number).every(Number.isInteger)).to.equal(true);
    });

    it('--json: every process with its plugin\'s name and id', async () => {
      const result = await cli(['ps', '--json']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const { items } = JSON.parse(result.stdout);
      const zipped = await plugin('zipped');
      const item = items.find((candidate: { plugin: string }) => candidate.plugin === 'zipped');
      expect(item).to.include({ plugin_id: zipped.id, version: '1.0.0', state: 'ready' });
      expect(item).to.include.keys('node_id', 'pid', 'started_at', 'rss_bytes', 'cpu_percent', 'wasm_memory_bytes', 'in_flight', 'calls_total', 'errors_total', 'restarts', 'last_exit');
      expect(item.pid).to.equal(zipped.runtime.pids[0]);
    });
  });

  describe('plugins limits, disable, enable, reload', () => {
    it('limits without options shows them; with options sets them and ps shows the new processes', async () => {
      const shown = await cli(['plugins', 'limits', 'zipped']);
      expect(shown.exitCode, shown.stderr).to.equal(0);
      expect(shown.stdout).to.equal('zipped: memory 64 MB, timeout 5 s, instances 1');
      const set = await cli(['plugins', 'limits', 'zipped', '--instances', '2', '--timeout-secs', '7']);
      expect(set.exitCode, set.stderr).to.equal(0);
      expect(set.stdout).to.equal('limits of zipped: memory 64 MB, timeout 7 s, instances 2');
      expect((await plugin('zipped')).resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 7, instances: 2 });
      const zippedRows = async () => tableRows((await cli(['ps'])).stdout).filter((row) => row[0] === 'zipped' && row[4] === 'ready');
      expect(await eventually(async () => (await zippedRows()).length === 2, 20_000)).to.equal(true);
    });

    it('limits out of the service\'s range: its sentence, exit 1; not a number: usage, exit 2', async () => {
      const tooMuch = await cli(['plugins', 'limits', 'zipped', '--memory-mb', '99999']);
      expect(tooMuch.exitCode).to.equal(1);
      expect(tooMuch.stderr).to.equal('plugin-keeper: field "memory_mb" must be a whole number from 1 to 1024, got 99999 (400 bad_request)');
      const notANumber = await cli(['plugins', 'limits', 'zipped', '--memory-mb', 'lots']);
      expect(notANumber.exitCode).to.equal(2);
      expect(notANumber.stderr).to.include('--memory-mb must be a whole number');
      expect((await plugin('zipped')).resource_limits.memory_mb).to.equal(64);
    });

    it('disable by name stops its processes; enable by id starts them again', async () => {
      const zipped = await plugin('zipped');
      const disabled = await cli(['plugins', 'disable', 'zipped']);
      expect(disabled.exitCode, disabled.stderr).to.equal(0);
      expect(disabled.stdout).to.equal(`disabled zipped 1.0.0 (id ${zipped.id}): disabled`);
      expect(tableRows((await cli(['ps'])).stdout).some((row) => row[0] === 'zipped')).to.equal(false);
      const enabled = await cli(['plugins', 'enable', zipped.id, '--json']);
      expect(enabled.exitCode, enabled.stderr).to.equal(0);
      expect(JSON.parse(enabled.stdout)).to.include({ id: zipped.id, status: 'active' });
      expect((await plugin('zipped')).status).to.equal('active');
    });

    it('reload re-reads the same source and says from which version to which', async () => {
      const reloaded = await cli(['plugins', 'reload', 'git-demo']);
      expect(reloaded.exitCode, reloaded.stderr).to.equal(0);
      expect(reloaded.stdout).to.match(/^reloaded git-demo 2\.0\.0 → git-demo 2\.0\.0 \(id [0-9a-f-]{36}\): active$/);
    });
    it('reload --zip uploads a new version', async () => {
      const next = path.join(gitRoot, 'zipped-1.1.0.zip');
      await writeFile(next, await pluginZip(manifest('zipped', '1.1.0', 'demo'), 'good'));
      const reloaded = await cli(['plugins', 'reload', 'zipped', '--zip', next]);
      expect(reloaded.exitCode, reloaded.stderr).to.equal(0);
      expect(reloaded.stdout).to.match(/^reloaded zipped 1\.0\.0 → zipped 1\.1\.0 \(id [0-9a-f-]{36}\): active$/);
      expect((await plugin('zipped')).version).to.equal('1.1.0');
      const both = await cli(['plugins', 'reload', 'zipped', '--zip', next, '--ref', 'main']);
      expect(both.exitCode).to.equal(2);
      expect(both.stderr).to.include('reload takes --ref or --zip, not both');
    });
  });

  describe('events', () => {
    it('shows the lifecycle events, newest first', async () => {
      const result = await cli(['events', 'zipped']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const [header, ...rows] = tableRows(result.stdout);
      expect(header).to.deep.equal(['TIME', 'SEVERITY', 'EVENT', 'NODE', 'MESSAGE']);
      const times = rows.map((row) => row[0]!);
      expect(times).to.deep.equal([...times].sort().reverse());
      const kinds = rows.map((row) => row[2]);
      expect(kinds).to.include.members(['installed', 'enabled', 'disabled']);
      expect(kinds.at(-1)).to.equal('installed');
      expect(kinds.indexOf('enabled')).to.be.below(kinds.indexOf('disabled'));
    });

    it('--json and --limit: the newest N as the service gives them', async () => {
      const zipped = await plugin('zipped');
      const result = await cli(['events', 'zipped', '--limit', '2', '--json']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const { items } = JSON.parse(result.stdout);
      expect(items).to.deep.equal((await e2e.call('GET', `/api/v1/plugins/${zipped.id}/events?limit=2`)).json.items);
    });
  });

  describe('logs', () => {
    const pidOf = async (name: string): Promise<number> => (await plugin(name)).runtime.pids[0];
    const crashLine = (pid: number) => new RegExp(`^\\S+ \\S+ ${pid} 1\\.0\\.0 host: crashed: .*SIGKILL.*$`, 'm');

    it('shows the plugin\'s lines oldest first: a killed process\'s host lines; --json and --stream', async () => {
      const pid = await pidOf('local-trap');
      process.kill(pid, 'SIGKILL');
      expect(await eventually(async () => crashLine(pid).test((await cli(['logs', 'local-trap'])).stdout), 10_000), 'the crash line').to.equal(true);
      const json = await cli(['logs', 'local-trap', '--json', '--stream', 'host', '--since', '10m']);
      expect(json.exitCode, json.stderr).to.equal(0);
      const lines = json.stdout.split('\n').map((text) => JSON.parse(text));
      expect(lines.map((line) => line.seq)).to.deep.equal([...lines.map((line) => line.seq)].sort((a, b) => a - b));
      expect(lines.every((line) => line.stream === 'host' && line.version === '1.0.0')).to.equal(true);
      expect(lines.find((line) => line.pid === pid && /^crashed: /.test(line.text))).to.include.keys('seq', 'time', 'node_id');
      const none = await cli(['logs', 'local-trap', '--stream', 'stdout']);
      expect(none).to.include({ exitCode: 0, stdout: '' });
    });

    it('-f follows: the next crash appears once, after what was there', async () => {
      expect(await eventually(async () => (await plugin('local-trap')).runtime.pids.length === 1, 10_000)).to.equal(true);
      const child = execa(process.execPath, [BIN, 'logs', 'local-trap', '-f', '--json'], {
        env: { PATH: process.env.PATH ?? '', PLUGIN_KEEPER_URL: e2e.url, PLUGIN_KEEPER_TOKEN: e2e.adminToken },
        extendEnv: false,
        reject: false,
      });
      const lines: { seq: number; pid: number; text: string }[] = [];
      child.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean).map((text) => JSON.parse(text))));
      try {
        expect(await eventually(async () => lines.length > 0, 10_000), 'the backlog').to.equal(true);
        const pid = await pidOf('local-trap');
        process.kill(pid, 'SIGKILL');
        expect(await eventually(async () => lines.some((line) => line.pid === pid && /^crashed: /.test(line.text)), 10_000), 'the followed crash').to.equal(true);
        const seqs = lines.map((line) => line.seq);
        expect(seqs).to.deep.equal([...new Set(seqs)].sort((a, b) => a - b));
      } finally {
        child.kill('SIGINT');
        await child;
      }
    });

    it('a bad --since: the service\'s sentence, exit 1', async () => {
      const result = await cli(['logs', 'local-trap', '--since', 'yesterday']);
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.match(/^plugin-keeper: query parameter "since" must be an RFC 3339 time or a duration like 10m.* \(400 bad_request\)$/);
    });
  });

  describe('errors, each as one sentence', () => {
    it('the service down: exit 2, naming where it looked', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const result = await cli(['ps'], { PLUGIN_KEEPER_URL: url });
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.equal(`plugin-keeper: cannot reach the plugin-keeper service at ${url}: connection refused; is it running? (PLUGIN_KEEPER_URL says where)`);
      expect(result.stdout).to.equal('');
    });

    it('a token the service does not know: 401, exit 1', async () => {
      const result = await cli(['plugins', 'ls'], { PLUGIN_KEEPER_TOKEN: 'not-a-token' });
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.equal(`plugin-keeper: the service at ${e2e.url} did not accept the token (401) from PLUGIN_KEEPER_TOKEN: it is unknown or revoked`);
    });

    it('a reader token reads, but an admin action is a 403, exit 1, and nothing changes', async () => {
      const reader = await e2e.createToken('reader');
      const ps = await cli(['ps'], { PLUGIN_KEEPER_TOKEN: reader });
      expect(ps.exitCode, ps.stderr).to.equal(0);
      const result = await cli(['plugins', 'disable', 'zipped'], { PLUGIN_KEEPER_TOKEN: reader });
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.equal('plugin-keeper: this needs an admin token (403): the token from PLUGIN_KEEPER_TOKEN may only read');
      expect((await plugin('zipped')).status).to.equal('active');
    });

    it('an unknown plugin: by name, and by id (the service\'s 404), exit 1', async () => {
      const byName = await cli(['plugins', 'enable', 'no-such-plugin']);
      expect(byName.exitCode).to.equal(1);
      expect(byName.stderr).to.equal('plugin-keeper: no plugin is named "no-such-plugin" (plugin-keeper plugins ls lists them)');
      const byId = await cli(['events', UNKNOWN_ID]);
      expect(byId.exitCode).to.equal(1);
      expect(byId.stderr).to.equal(`plugin-keeper: no plugin with id ${UNKNOWN_ID} (404 not_found)`);
    });

    it('no PLUGIN_KEEPER_TOKEN: the data directory\'s admin-token, else a 401 saying where it looked', async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-cli-data-'));
      try {
        const noToken = await pluginKeeper(['ps'], { env: { PLUGIN_KEEPER_URL: e2e.url, DATA_DIR: dataDir } });
        expect(noToken.exitCode).to.equal(1);
        expect(noToken.stderr).to.equal(
          `plugin-keeper: the service at ${e2e.url} needs a token (401): set PLUGIN_KEEPER_TOKEN, or DATA_DIR to the service's data directory (no PLUGIN_KEEPER_TOKEN and no readable ${dataDir}/admin-token)`,
        );
        await writeFile(path.join(dataDir, 'admin-token'), `${e2e.adminToken}\n`, { mode: 0o600 });
        const fromFile = await pluginKeeper(['ps'], { env: { PLUGIN_KEEPER_URL: e2e.url, DATA_DIR: dataDir } });
        expect(fromFile.exitCode, fromFile.stderr).to.equal(0);
        expect(fromFile.stdout).to.include('zipped');
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });

    it('a usage mistake: the message and the usage, exit 2', async () => {
      const result = await cli(['plugins', 'frobnicate']);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.match(/^plugin-keeper: unknown plugins command "frobnicate"\nusage:\n/);
    });
  });

  describe('top, in a real terminal (tmux)', () => {
    let pane: TmuxPane;
    beforeEach(async () => {
      pane = await TmuxPane.start(160, 30);
    });
    afterEach(() => pane?.close());

    const psRows = (screen: string) =>
      tableRows(screen.slice(screen.indexOf('PLUGIN  ')))
        .slice(1)
        .filter((row) => row.length === PS_HEADER.length);

    it('redraws the table, sorts by memory on m, quits on q with exit 0 and gives the screen back', async () => {
      await pane.type(`PLUGIN_KEEPER_URL=${e2e.url} PLUGIN_KEEPER_TOKEN=${e2e.adminToken} node ${BIN} top; echo "top exited $?"`);
      expect(await pane.waitFor((screen) => /sorted by CPU/.test(screen) && psRows(screen).length >= 3), 'the table').to.equal(true);
      const first = await pane.screen();
      expect(first).to.match(/^plugin-keeper top {2}http:\/\/127\.0\.0\.1:\d+ {2}\d+ processes {2}sorted by CPU {2}\d\d:\d\d:\d\d$/m);
      expect(first).to.include('c: sort by CPU   m: sort by memory   q: quit');
      expect(first).not.to.include(SHELL_PROMPT);
      const cpu = psRows(first).map((row) => parseFloat(row[8]!));
      expect(cpu).to.deep.equal([...cpu].sort((a, b) => b - a));
      // Redrawn in place: the clock moves, the header stays on the first line.
      const clock = /(\d\d:\d\d:\d\d)$/m.exec(first)![1];
      expect(await pane.waitFor((screen) => /(\d\d:\d\d:\d\d)$/m.exec(screen)?.[1] !== clock, 5000), 'a redraw').to.equal(true);

      await pane.press('m');
      expect(await pane.waitFor((screen) => screen.includes('sorted by memory (RSS)')), 'sorted by memory').to.equal(true);
      const rss = psRows(await pane.screen()).map((row) => bytesOf(row[6]!));
      expect(rss.length).to.be.at.least(3);
      expect(rss).to.deep.equal([...rss].sort((a, b) => b - a));

      await pane.press('q');
      expect(await pane.waitFor((screen) => screen.includes('top exited 0')), 'top exited 0').to.equal(true);
      const after = await pane.screen();
      expect(after).not.to.include('sorted by');
      expect(after).not.to.include('PLUGIN  ');
      expect(after.trimEnd().endsWith(SHELL_PROMPT)).to.equal(true);
      // The terminal is back to cooked mode with echo: what is typed shows and runs.
      await pane.type('echo typed-$((6*7))');
      expect(await pane.waitFor((screen) => screen.includes('typed-42'))).to.equal(true);
    });

    it('quits on Ctrl-C the same way', async () => {
      await pane.type(`PLUGIN_KEEPER_URL=${e2e.url} PLUGIN_KEEPER_TOKEN=${e2e.adminToken} node ${BIN} top --sort memory; echo "top exited $?"`);
      expect(await pane.waitFor((screen) => screen.includes('sorted by memory (RSS)'))).to.equal(true);
      await pane.press('C-c');
      expect(await pane.waitFor((screen) => screen.includes('top exited 0'))).to.equal(true);
      expect(await pane.screen()).not.to.include('sorted by');
    });

    it('in a terminal too short for every process, says how many are not shown', async () => {
      const short = await TmuxPane.start(160, 6);
      try {
        await short.type(`PLUGIN_KEEPER_URL=${e2e.url} PLUGIN_KEEPER_TOKEN=${e2e.adminToken} node ${BIN} top`);
        expect(await short.waitFor((screen) => /^… \d+ more processes \(a taller terminal shows them\)$/m.test(screen))).to.equal(true);
        const screen = (await short.screen()).trimEnd().split('\n');
        expect(screen).to.have.length(6);
        expect(screen[0]).to.match(/^plugin-keeper top /);
        await short.press('q');
        expect(await short.waitFor((text) => text.trimEnd().endsWith(SHELL_PROMPT))).to.equal(true);
      } finally {
        await short.close();
      }
    });

    it('the service going away while it runs: the sentence shown in place, the last figures kept; q still restores', async () => {
      const oldUrl = e2e.url;
      await pane.type(`PLUGIN_KEEPER_URL=${oldUrl} PLUGIN_KEEPER_TOKEN=${e2e.adminToken} node ${BIN} top --interval 0.5; echo "top exited $?"`);
      expect(await pane.waitFor((screen) => psRows(screen).length >= 3)).to.equal(true);
      await e2e.restart(); // a new port: the old URL now refuses connections
      const gone = `! cannot reach the plugin-keeper service at ${oldUrl}: connection refused; is it running? (PLUGIN_KEEPER_URL says where) (retrying)`;
      expect(await pane.waitFor((screen) => screen.includes(gone)), 'the sentence').to.equal(true);
      expect(psRows(await pane.screen()).length).to.be.at.least(3);
      await pane.press('q');
      expect(await pane.waitFor((screen) => screen.includes('top exited 0'))).to.equal(true);
      expect(await pane.screen()).not.to.include('sorted by');
    });

    it('the service down: the sentence on the normal screen, exit 2', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      await pane.type(`PLUGIN_KEEPER_URL=${url} node ${BIN} top; echo "top exited $?"`);
      expect(await pane.waitFor((screen) => screen.includes('top exited 2'))).to.equal(true);
      expect(await pane.screen()).to.include(`cannot reach the plugin-keeper service at ${url}: connection refused`);
    });

    it('a service that never answers: said within 10 s, exit 2', async () => {
      // Accepts connections and never says a word.
      const sockets: Socket[] = [];
      const silent = createNetServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
      await once(silent, 'listening');
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      try {
        await pane.type(`PLUGIN_KEEPER_URL=${url} PLUGIN_KEEPER_TOKEN=t node ${BIN} top; echo "top exited $?"`);
        expect(await pane.waitFor((screen) => screen.includes('top exited 2'), 20_000)).to.equal(true);
        expect(await pane.screen()).to.include(`cannot reach the plugin-keeper service at ${url}: no answer within 10 s`);
      } finally {
        silent.close();
        for (const socket of sockets) socket.destroy();
      }
    });

    it('without a terminal: refused with exit 2 (ps or top --json are for scripts)', async () => {
      const result = await cli(['top']);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.include('top needs a terminal (in scripts: ps --json, or top --json)');
    });

    it('--json: one line per refresh, without a terminal', async () => {
      const child = execa(process.execPath, [BIN, 'top', '--json', '--interval', '0.3'], {
        env: { PATH: process.env.PATH ?? '', PLUGIN_KEEPER_URL: e2e.url, PLUGIN_KEEPER_TOKEN: e2e.adminToken },
        extendEnv: false,
        reject: false,
      });
      const lines: string[] = [];
      child.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
      expect(await eventually(async () => lines.length >= 2, 10_000)).to.equal(true);
      child.kill('SIGINT');
      await child;
      const snapshot = JSON.parse(lines[0]!);
      expect(Date.parse(snapshot.time)).to.be.a('number');
      expect(snapshot.items.map((item: { plugin: string }) => item.plugin)).to.include('zipped');
    });
  });

  describe('plugins uninstall', () => {
    it('refuses while a repository uses the format, naming it (409, exit 1); --force uninstalls', async () => {
      expect((await e2e.call('POST', '/api/v1/repositories', { body: { key: 'demo-things', format: 'demo' } })).status).to.equal(201);
      const refused = await cli(['plugins', 'uninstall', 'zipped']);
      expect(refused.exitCode).to.equal(1);
      expect(refused.stderr).to.match(/^plugin-keeper: .* \(409 dependency_conflict\)\n {2}- used by repository demo-things$/);
      expect(await plugin('zipped')).to.not.equal(undefined);
      const zipped = await plugin('zipped');
      const forced = await cli(['plugins', 'uninstall', 'zipped', '--force']);
      expect(forced.exitCode, forced.stderr).to.equal(0);
      expect(forced.stdout).to.equal(`uninstalled zipped ${zipped.version} (id ${zipped.id})`);
      expect(await plugin('zipped')).to.equal(undefined);
    });
  });
});

/**
 * `logs` against a fake of `GET /plugins/:id/logs` and `GET /plugins/:id/logs/stream` with
 * the service's shapes, where the real service cannot be made to drop a stream after a
 * chosen line or to ignore a filter.
 */
describe('plugin-keeper logs (against a fake of the logs routes)', function () {
  this.timeout(30_000);
  const PLUGIN_ID = '6c1f0a9e-2b7d-4e8a-9c3f-1d2e3f4a5b6c';
  const line = (seq: number, text: string, stream = 'stdout') => ({
    seq,
    time: `2026-12-06T05:00:0${seq}.000Z`,
    node_id: 'node-a',
    pid: 4242,
    version: '1.0.0',
    stream,
    text,
  });
  let server: Server;
  let url: string;
  const requests: { path: string; lastEventId: string | undefined }[] = [];

  before(async () => {
    let streams = 0;
    server = createServer((request, response) => {
      const target = new URL(request.url!, 'http://fake');
      requests.push({ path: target.pathname + target.search, lastEventId: request.headers['last-event-id'] as string | undefined });
      const json = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (target.pathname === '/api/v1/plugins') return json({ items: [{ id: PLUGIN_ID, name: 'chatty', version: '1.0.0' }], total: 1, page: 1, per_page: 100 });
      if (target.pathname === `/api/v1/plugins/${PLUGIN_ID}/logs`) return json({ items: [line(1, 'first'), line(2, 'second', 'stderr')], next: 2 });
      if (target.pathname === `/api/v1/plugins/${PLUGIN_ID}/logs/stream` && target.search === '') {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        // The first connection drops after one line; the client must resume after it.
        if (streams++ === 0) return response.end(`: following\n\nid: 3\ndata: ${JSON.stringify(line(3, 'third'))}\n\n`);
        response.write(`id: 4\ndata: ${JSON.stringify(line(4, 'fourth', 'host'))}\n\nid: 5\ndata: ${JSON.stringify(line(5, 'fifth'))}\n\n`);
        return;
      }
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found', message: 'no such route' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('prints the lines oldest first, passing --since, --limit and --stream on', async () => {
    requests.length = 0;
    const result = await pluginKeeper(['logs', 'chatty', '--since', '10m', '--limit', '5', '--stream', 'stderr'], {
      env: { PLUGIN_KEEPER_URL: url, PLUGIN_KEEPER_TOKEN: 't' },
    });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal(
      ['2026-12-06T05:00:01.000Z node-a 4242 1.0.0 stdout: first', '2026-12-06T05:00:02.000Z node-a 4242 1.0.0 stderr: second'].join('\n'),
    );
    expect(requests.at(-1)!.path).to.equal(`/api/v1/plugins/${PLUGIN_ID}/logs?since=10m&limit=5&stream=stderr`);
  });

  it('-f follows the stream, resumes after a dropped connection from the last line (Last-Event-ID), keeps --stream', async () => {
    requests.length = 0;
    const child = execa(process.execPath, [BIN, 'logs', 'chatty', '-f', '--stream', 'stdout', '--json'], {
      env: { PATH: process.env.PATH ?? '', PLUGIN_KEEPER_URL: url, PLUGIN_KEEPER_TOKEN: 't' },
      extendEnv: false,
      reject: false,
    });
    const lines: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    expect(await eventually(async () => lines.length >= 4, 10_000)).to.equal(true);
    child.kill('SIGINT');
    await child;
    // 1 and 2 as the page gave them (the service filters the page); 4, a host line, is
    // dropped by the client: the stream route takes no filter (the fake answers 404 to one).
    expect(lines.map((text) => JSON.parse(text).seq)).to.deep.equal([1, 2, 3, 5]);
    expect(JSON.parse(lines[3]!)).to.deep.equal(line(5, 'fifth'));
    const streams = requests.filter((request) => request.path.includes('/logs/stream'));
    expect(streams.map((request) => request.lastEventId)).to.deep.equal(['2', '3']);
  });

  it('ends quietly, exit 0, when its reader stops reading (logs -f | head -1)', async () => {
    const result = await execa('bash', ['--norc', '--noprofile', '-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" logs chatty -f | head -1`], {
      env: { PATH: process.env.PATH ?? '', PLUGIN_KEEPER_URL: url, PLUGIN_KEEPER_TOKEN: 't' },
      extendEnv: false,
      reject: false,
      timeout: 15_000,
    });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('2026-12-06T05:00:01.000Z node-a 4242 1.0.0 stdout: first');
    expect(result.stderr).to.equal('');
  });

  it('an unknown plugin: one sentence, exit 1', async () => {
    const result = await pluginKeeper(['logs', 'quiet'], { env: { PLUGIN_KEEPER_URL: url, PLUGIN_KEEPER_TOKEN: 't' } });
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.equal('plugin-keeper: no plugin is named "quiet" (plugin-keeper plugins ls lists them)');
  });
});

describe('plugin-keeper ps and plugins across two nodes on one PostgreSQL', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let a: NodeProcess;
  let b: NodeProcess;
  const cli = (node: NodeProcess, args: string[]) => pluginKeeper(args, { env: { PLUGIN_KEEPER_URL: node.url, PLUGIN_KEEPER_TOKEN: cluster.adminToken } });
  const psRowsOf = async (node: NodeProcess) => tableRows((await cli(node, ['ps'])).stdout).slice(1);

  before(async () => {
    cluster = await startCluster();
    a = await cluster.start('node-a');
    b = await cluster.start('node-b');
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await cluster.failed();
  });
  after(() => cluster?.close());

  it('ps on either node shows every node\'s process; a disable through one node empties both', async () => {
    const dir = await pluginFolder(cluster.localRoot, 'shared', manifest('shared', '1.0.0', 'demo'), 'good');
    const installed = await cli(a, ['plugins', 'install', dir]);
    expect(installed.exitCode, installed.stderr).to.equal(0);
    const bothNodes = async (node: NodeProcess) => {
      const nodes = (await psRowsOf(node)).filter((row) => row[0] === 'shared' && row[4] === 'ready').map((row) => row[2]);
      return nodes.sort().join(',') === 'node-a,node-b';
    };
    expect(await eventually(() => bothNodes(a), 20_000), 'ps on node-a').to.equal(true);
    expect(await eventually(() => bothNodes(b), 20_000), 'ps on node-b').to.equal(true);

    const disabled = await cli(b, ['plugins', 'disable', 'shared']);
    expect(disabled.exitCode, disabled.stderr).to.equal(0);
    expect(await eventually(async () => (await psRowsOf(a)).length === 0, 20_000), 'no process left, seen from node-a').to.equal(true);
  });
});
