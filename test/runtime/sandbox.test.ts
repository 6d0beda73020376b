import { expect } from 'chai';
import { execa } from 'execa';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childReadablePaths } from '../../supervisor/runtime/child.js';
import { Sandbox } from '../../supervisor/runtime/sandbox.js';
import { isRunning } from '../support/assertions.js';
import { repoRoot } from '../support/fixtures.js';

const probe = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sandbox-probe.js');

describe('plugin sandbox', function () {
  this.timeout(20_000);
  let dir: string;
  let server: net.Server;
  let port: number;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-sandbox-'));
    server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('this machine supports the network namespace (CI relies on it)', () => {
    expect(Sandbox.detect().features.unsharePath).to.be.a('string');
  });

  it('denies the network, file writes, reads outside its paths, spawning and native addons; passes no secrets', async () => {
    const sandbox = Sandbox.detect();
    const secretFile = path.join(dir, 'secret.txt');
    await fs.writeFile(secretFile, 'secret');
    process.env.PLUGIN_KEEPER_TEST_SECRET = 'do-not-leak';
    try {
      const command = sandbox.command({
        hostEntry: probe,
        hostArgs: [String(port), path.join(dir, 'written.txt'), secretFile],
        readablePaths: [repoRoot],
        maxOldSpaceMb: 64,
      });
      const { stdout } = await execa(command.file, command.args, { env: command.env, extendEnv: false });
      const result = JSON.parse(stdout);
      expect(result.env).to.not.include('PLUGIN_KEEPER_TEST_SECRET');
      expect(result.env).to.not.include('DATABASE_URL');
      expect(result.write).to.equal('ERR_ACCESS_DENIED');
      expect(result.read).to.equal('ERR_ACCESS_DENIED');
      expect(result.spawn).to.equal('ERR_ACCESS_DENIED');
      expect(result.addon).to.equal('ERR_DLOPEN_DISABLED');
      expect(result.connect).to.equal('ENETUNREACH');
      await fs.access(path.join(dir, 'written.txt')).then(
        () => expect.fail('the sandboxed process wrote a file'),
        () => undefined,
      );
    } finally {
      delete process.env.PLUGIN_KEEPER_TEST_SECRET;
    }
  });

  it("grants a plugin child its host code and its component only: not DATA_DIR's admin token or database below the package root", async () => {
    // The default DATA_DIR is ./data in the package root; a folder there stands in for it.
    const dataDir = await fs.mkdtemp(path.join(repoRoot, '.cache', 'sandbox-data-'));
    const componentDir = await fs.mkdtemp(path.join(dir, 'component-'));
    try {
      await fs.writeFile(path.join(dataDir, 'admin-token'), 'secret-admin-token');
      await fs.writeFile(path.join(dataDir, 'plugin-keeper.db'), 'SQLite format 3');
      await fs.writeFile(path.join(componentDir, 'plugin.js'), 'export {};');
      const grants = childReadablePaths(path.join(componentDir, 'plugin.js'));
      expect(grants.every((grant) => !dataDir.startsWith(grant + path.sep))).to.equal(true, `grants: ${grants.join(', ')}`);
      for (const target of ['admin-token', 'plugin-keeper.db']) {
        const command = Sandbox.detect().command({
          hostEntry: probe,
          // The probe's own folder too, so that it can run at all (test code, no data).
          hostArgs: [String(port), path.join(dir, 'written.txt'), path.join(dataDir, target)],
          readablePaths: [...grants, path.dirname(probe)],
          maxOldSpaceMb: 64,
        });
        const { stdout } = await execa(command.file, command.args, { env: command.env, extendEnv: false });
        expect(JSON.parse(stdout).read, target).to.equal('ERR_ACCESS_DENIED');
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('says which walls are up', () => {
    expect(Sandbox.detect().describe()).to.contain('no network').and.contain('killed with the supervisor');
    expect(Sandbox.detect({ networkIsolation: false }).describe()).to.contain('network NOT isolated');
    const bare = new Sandbox({ permissionModel: true, unsharePath: null, setprivPath: null });
    expect(bare.describe()).to.contain('may outlive a killed supervisor');
  });

  it('this machine supports the parent-death signal (CI relies on it)', () => {
    expect(Sandbox.detect().features.setprivPath).to.be.a('string');
  });

  it('sets the parent-death signal after entering the namespace, or alone without one', () => {
    const options = { hostEntry: '/host.js', hostArgs: ['x'], readablePaths: ['/r'], maxOldSpaceMb: 64 };
    const both = new Sandbox({ permissionModel: false, unsharePath: '/u/unshare', setprivPath: '/u/setpriv' }).command(options);
    expect([both.file, ...both.args]).to.deep.equal([
      '/u/unshare', '--user', '--map-root-user', '--net',
      '/u/setpriv', '--pdeathsig', 'KILL', '--',
      process.execPath, '--max-old-space-size=64', '--no-warnings', '--no-addons', '/host.js', 'x',
    ]);
    const alone = new Sandbox({ permissionModel: false, unsharePath: null, setprivPath: '/u/setpriv' }).command(options);
    expect([alone.file, ...alone.args].slice(0, 5)).to.deep.equal(['/u/setpriv', '--pdeathsig', 'KILL', '--', process.execPath]);
  });

  it('a child spinning in a loop dies with the process that spawned it, even by SIGKILL', async () => {
    const loop = path.join(dir, 'loop.js');
    await fs.writeFile(loop, 'for (;;) {}\n');
    const command = Sandbox.detect().command({ hostEntry: loop, hostArgs: [], readablePaths: [dir], maxOldSpaceMb: 64 });
    // The parent: spawns the sandboxed child, says its pid, and waits.
    const parentScript = `
      const { spawn } = await import('node:child_process');
      const [file, args, env] = JSON.parse(process.argv[1]);
      const child = spawn(file, args, { env, stdio: 'ignore' });
      child.on('spawn', () => console.log(child.pid));
      setInterval(() => {}, 1000);`;
    const parent = execa(process.execPath, ['--input-type=module', '-e', parentScript, JSON.stringify([command.file, command.args, command.env])]);
    const childPid = await new Promise<number>((resolve) => parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await isRunning(childPid)).to.equal(true);
    parent.kill('SIGKILL');
    await parent.catch(() => undefined);
    const deadline = Date.now() + 5000;
    while ((await isRunning(childPid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await isRunning(childPid), 'the looping child outlived its parent').to.equal(false);
  });
});
