// openStore() beyond the shared suite: databases that cannot be reached or opened, and
// supervisors starting at once.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { migrate } from '../../supervisor/store/migrate.js';
import { openStore } from '../../supervisor/store/open.js';
import { SQLITE_FILE } from '../../supervisor/store/sqlite.js';
import { CORE_FORMAT_KEYS, DatabaseUnavailable } from '../../supervisor/store/store.js';
import { expectRejection } from '../support/assertions.js';
import { migrationFileNames, postgresFixture } from '../support/engines.js';

describe('openStore', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-open-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the data directory', async () => {
    const nested = path.join(dataDir, 'a', 'b');
    const store = await openStore({ dataDir: nested, databaseUrl: undefined });
    await store.close();
    expect((await stat(path.join(nested, SQLITE_FILE))).isFile()).to.equal(true);
  });

  it('fails with DatabaseUnavailable naming the file when SQLite cannot open it', async () => {
    await mkdir(path.join(dataDir, SQLITE_FILE));
    const error = await expectRejection(openStore({ dataDir, databaseUrl: undefined }), DatabaseUnavailable);
    expect(error.message).to.contain(path.join(dataDir, SQLITE_FILE));
  });

  it('fails with DatabaseUnavailable naming the server when PostgreSQL is unreachable', async () => {
    const error = await expectRejection(
      openStore({ dataDir, databaseUrl: 'postgres://postgres:secret@127.0.0.1:1/test' }),
      DatabaseUnavailable,
    );
    expect(error.message).to.contain('cannot connect to PostgreSQL at 127.0.0.1:1/test');
    expect(error.message).to.contain('ECONNREFUSED');
    expect(error.message).not.to.contain('secret');
  });

  describe('on PostgreSQL', () => {
    const fixture = postgresFixture();

    after(() => fixture.dispose());

    it('migrates once when several supervisors start at the same time', async () => {
      const config = await fixture.create();
      const stores = await Promise.all([openStore(config), openStore(config), openStore(config)]);
      try {
        for (const store of stores) expect(await store.listFormatHandlers({})).to.have.length(CORE_FORMAT_KEYS.length);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
      const driver = fixture.openDriver(config);
      try {
        const versions = (await migrationFileNames()).map((name) => ({ version: Number(name.split('_')[0]) }));
        expect(versions).to.have.length.of.at.least(4);
        expect(await driver.db.all('SELECT version FROM schema_migrations ORDER BY version')).to.deep.equal(versions);
        expect(await migrate(driver)).to.deep.equal([]);
      } finally {
        await driver.close();
      }
    });

    it('gives a store whose ping fails with DatabaseUnavailable once the server is gone', async () => {
      const config = await fixture.create();
      const proxy = await tcpProxy(new URL(config.databaseUrl!));
      const store = await openStore({ ...config, databaseUrl: proxy.url });
      try {
        await store.ping();
        await proxy.close();
        const error = await expectRejection(store.ping(), DatabaseUnavailable);
        expect(error.message).to.contain(`PostgreSQL at 127.0.0.1:${new URL(proxy.url).port}/`);
      } finally {
        await store.close();
      }
    });
  });
});

/** A TCP relay to the server of `target`, and the same URL through it; close() cuts every connection. */
async function tcpProxy(target: URL): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket, peer: () => net.Socket | undefined) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      peer()?.destroy();
    });
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(client, () => upstream);
    track(upstream, () => client);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
