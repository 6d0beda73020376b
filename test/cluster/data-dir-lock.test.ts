// One supervisor per DATA_DIR: a second one is refused with the holder named; the lock goes
// with its holder, even one killed with SIGKILL.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { execa } from 'execa';
import { loadConfig } from '../../supervisor/config.js';
import { DataDirInUse, lockDataDir } from '../../supervisor/data-dir-lock.js';
import { startSupervisor } from '../../supervisor/supervisor.js';
import { expectRejection } from '../support/assertions.js';

const lockModule = fileURLToPath(new URL('../../supervisor/data-dir-lock.js', import.meta.url));

describe('data directory lock', function () {
  this.timeout(30_000);
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-lock-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a second holder, naming the first; released, it can be taken again', async () => {
    const first = await lockDataDir(dataDir, 'node-one');
    const error = await expectRejection(lockDataDir(dataDir, 'node-two'), DataDirInUse);
    expect(error.message).to.contain(`DATA_DIR ${dataDir} is in use by another supervisor`);
    expect(error.message).to.contain(`pid ${process.pid}`).and.contain('node "node-one"').and.contain(`host "${os.hostname()}"`);
    first.release();
    first.release();
    const again = await lockDataDir(dataDir, 'node-two');
    again.release();
  });

  it('a second supervisor on the same DATA_DIR refuses to start and leaves the first serving', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: 'x'.repeat(24), LOG_LEVEL: 'silent', NODE_ID: 'first' });
    const supervisor = await startSupervisor(config);
    try {
      const error = await expectRejection(startSupervisor({ ...config, cluster: { ...config.cluster, nodeId: 'second' } }), DataDirInUse);
      expect(error.message).to.contain('node "first"');
      expect((await fetch(`${supervisor.url}/ready`)).status).to.equal(200);
    } finally {
      await supervisor.close();
    }
    // Closed: the directory is free again.
    const next = await startSupervisor(config);
    await next.close();
  });

  it('is released by the kernel when its holder is killed with SIGKILL: the next one takes it at once', async () => {
    const holder = execa(process.execPath, [
      '--input-type=module',
      '-e',
      `const { lockDataDir } = await import(${JSON.stringify(lockModule)});
       await lockDataDir(process.argv[1], 'doomed');
       console.log('locked');
       setInterval(() => {}, 1000);`,
      dataDir,
    ]);
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    const refused = await expectRejection(lockDataDir(dataDir, 'next'), DataDirInUse);
    expect(refused.message).to.contain(`pid ${holder.pid}`).and.contain('node "doomed"');

    holder.kill('SIGKILL');
    await holder.catch(() => undefined);
    const started = Date.now();
    const lock = await lockDataDir(dataDir, 'next');
    expect(Date.now() - started).to.be.below(1000);
    lock.release();
  });
});
