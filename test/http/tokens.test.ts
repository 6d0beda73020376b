// TokenService and the `token` CLI commands on a real (SQLite) store.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { UsageError, parseTokenCommand, runTokenCommand } from '../../cli/tokens.js';
import { ADMIN_TOKEN_FILE, TOUCH_INTERVAL_MS, TokenService, type TokenStore } from '../../supervisor/services/tokens.js';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';

const TOKEN = /^pk_[A-Za-z0-9_-]{43}$/;

describe('TokenService on a real store', () => {
  let dataDir: string;
  let store: Store;
  let clock: number;
  const settings = (overrides: { adminToken?: string; adminPassword?: string } = {}) => ({
    adminToken: overrides.adminToken,
    adminPassword: overrides.adminPassword,
    dataDir,
  });
  const service = (overrides: { adminToken?: string; adminPassword?: string } = {}) => new TokenService(store, settings(overrides), () => clock);

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-tokens-'));
    store = await openStore({ dataDir, databaseUrl: undefined });
    clock = Date.now();
  });
  afterEach(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates a pk_ token, stores only its SHA-256, and verifies it', async () => {
    const tokens = service();
    const created = await tokens.create({ role: 'reader', name: 'ci' });
    expect(created.token).to.match(TOKEN);
    expect(created).to.include({ role: 'reader', name: 'ci', revoked_at: null, last_used_at: null });
    const [row] = await store.listTokens();
    expect(row!.token_hash).to.equal(createHash('sha256').update(created.token).digest('hex'));
    expect(await tokens.verifyToken(created.token)).to.deep.equal({ role: 'reader', id: created.id, name: 'ci' });
  });

  it('makes a different secret every time', async () => {
    const tokens = service();
    const a = await tokens.create({ role: 'admin', name: 'a' });
    const b = await tokens.create({ role: 'admin', name: 'a' });
    expect(a.token).not.to.equal(b.token);
  });

  it('lists tokens without their digests, revoked ones included', async () => {
    const tokens = service();
    const a = await tokens.create({ role: 'admin', name: 'a' });
    const b = await tokens.create({ role: 'reader', name: 'b' });
    await tokens.revoke(a.id);
    const listed = await tokens.list();
    expect(listed.map((token) => [token.id, token.revoked_at !== null])).to.deep.equal([
      [a.id, true],
      [b.id, false],
    ]);
    for (const token of listed) expect(token).not.to.have.property('token_hash');
  });

  it('refuses unknown and revoked tokens', async () => {
    const tokens = service();
    const created = await tokens.create({ role: 'admin', name: 'x' });
    expect(await tokens.verifyToken('pk_unknown')).to.equal(null);
    expect(await tokens.verifyToken(created.token.slice(0, -1))).to.equal(null);
    expect(await tokens.revoke(created.id)).to.equal(true);
    expect(await tokens.revoke(created.id)).to.equal(false);
    expect(await tokens.verifyToken(created.token)).to.equal(null);
  });

  it('touches last_used_at at most once a minute', async () => {
    const tokens = service();
    const created = await tokens.create({ role: 'reader', name: 'x' });
    const lastUsed = async () => (await store.listTokens())[0]!.last_used_at;

    await tokens.verifyToken(created.token);
    const first = await lastUsed();
    expect(first).to.be.a('string');

    clock += TOUCH_INTERVAL_MS - 1000;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await tokens.verifyToken(created.token);
    expect(await lastUsed()).to.equal(first);

    clock += 2000;
    await tokens.verifyToken(created.token);
    expect(await lastUsed()).not.to.equal(first);
  });

  it('touches once for many concurrent requests', async () => {
    const created = await service().create({ role: 'reader', name: 'x' });
    let touches = 0;
    const counting: TokenStore = {
      insertToken: (token) => store.insertToken(token),
      findTokenByHash: (hash) => store.findTokenByHash(hash),
      listTokens: () => store.listTokens(),
      revokeToken: (id) => store.revokeToken(id),
      touchToken: (id) => {
        touches += 1;
        return store.touchToken(id);
      },
    };
    const tokens = new TokenService(counting, settings(), () => clock);
    await Promise.all(Array.from({ length: 10 }, () => tokens.verifyToken(created.token)));
    expect(touches).to.equal(1);
  });

  it('ADMIN_TOKEN is an admin bearer token', async () => {
    const tokens = service({ adminToken: 's3cret' });
    expect(await tokens.verifyToken('s3cret')).to.deep.equal({ role: 'admin', id: 'bootstrap', name: 'ADMIN_TOKEN' });
    expect(await tokens.verifyToken('s3cre')).to.equal(null);
    expect(await tokens.verifyToken('s3cret ')).to.equal(null);
  });

  it('Basic: admin with ADMIN_PASSWORD, or any user with a token', async () => {
    const tokens = service({ adminPassword: 'pw' });
    const reader = await tokens.create({ role: 'reader', name: 'r' });
    expect(await tokens.verifyBasic('admin', 'pw')).to.deep.equal({ role: 'admin', id: 'bootstrap', name: 'admin' });
    expect(await tokens.verifyBasic('someone', 'pw')).to.equal(null);
    expect(await tokens.verifyBasic('admin', 'PW')).to.equal(null);
    expect(await tokens.verifyBasic('someone', reader.token)).to.deep.equal({ role: 'reader', id: reader.id, name: 'r' });
    expect(await tokens.verifyBasic('admin', reader.token)).to.deep.equal({ role: 'reader', id: reader.id, name: 'r' });
  });

  it('Basic: no ADMIN_PASSWORD means no password login for admin', async () => {
    expect(await service().verifyBasic('admin', '')).to.equal(null);
  });

  describe('bootstrap', () => {
    it('with neither setting and no admin token: generates one, writes it 0600, returns it', async () => {
      const tokens = service();
      const generated = await tokens.bootstrap();
      expect(generated).not.to.equal(null);
      expect(generated!.token).to.match(TOKEN);
      expect(generated!.file).to.equal(path.join(dataDir, ADMIN_TOKEN_FILE));
      expect(await readFile(generated!.file, 'utf8')).to.equal(`${generated!.token}\n`);
      expect((await stat(generated!.file)).mode & 0o777).to.equal(0o600);
      expect(await tokens.verifyToken(generated!.token)).to.include({ role: 'admin', id: generated!.id });
    });

    it('generates nothing on the next start', async () => {
      await service().bootstrap();
      expect(await service().bootstrap()).to.equal(null);
      expect(await store.listTokens()).to.have.length(1);
    });

    it('generates nothing when ADMIN_TOKEN or ADMIN_PASSWORD is set', async () => {
      expect(await service({ adminToken: 't' }).bootstrap()).to.equal(null);
      expect(await service({ adminPassword: 'p' }).bootstrap()).to.equal(null);
      expect(await store.listTokens()).to.deep.equal([]);
    });

    it('generates nothing when an admin token exists; a reader token does not count', async () => {
      const tokens = service();
      await tokens.create({ role: 'reader', name: 'r' });
      expect(await tokens.bootstrap()).not.to.equal(null);
      expect(await tokens.bootstrap()).to.equal(null);
    });

    it('generates a fresh one once every admin token is revoked, replacing the file', async () => {
      const tokens = service();
      const first = await tokens.bootstrap();
      await tokens.revoke(first!.id);
      const second = await tokens.bootstrap();
      expect(second!.token).not.to.equal(first!.token);
      expect(await readFile(second!.file, 'utf8')).to.equal(`${second!.token}\n`);
      expect((await stat(second!.file)).mode & 0o777).to.equal(0o600);
    });

    it('revokes the token again when the file cannot be written', async () => {
      // A data folder whose path runs through a regular file cannot hold the token file.
      const blocked = path.join(dataDir, 'a-file');
      await writeFile(blocked, '');
      const tokens = new TokenService(store, { adminToken: undefined, adminPassword: undefined, dataDir: path.join(blocked, 'data') }, () => clock);
      let failed = false;
      await tokens.bootstrap().catch(() => (failed = true));
      expect(failed).to.equal(true);
      const [row] = await store.listTokens();
      expect(row!.revoked_at).to.be.a('string');
    });
  });

  describe('CLI token commands', () => {
    const run = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const status = await runTokenCommand(parseTokenCommand(args), service(), { out: (line) => out.push(line), err: (line) => err.push(line) });
      return { status, out, err };
    };

    it('create prints the token alone on stdout, and it works', async () => {
      const result = await run(['create', '--role', 'reader', '--name', 'ci bot']);
      expect(result.status).to.equal(0);
      expect(result.out).to.have.length(1);
      expect(result.out[0]).to.match(TOKEN);
      expect(result.err.join('\n')).to.include('ci bot');
      expect(await service().verifyToken(result.out[0]!)).to.include({ role: 'reader', name: 'ci bot' });
    });

    it('create names the token after its role by default', async () => {
      await run(['create', '--role', 'admin']);
      expect((await store.listTokens())[0]!.name).to.equal('admin token');
    });

    it('list shows every token, without secrets', async () => {
      const created = await run(['create', '--role', 'admin', '--name', 'ops']);
      const result = await run(['list']);
      expect(result.out[0]).to.match(/^ID\s+NAME\s+ROLE\s+CREATED\s+LAST USED\s+REVOKED$/);
      expect(result.out).to.have.length(2);
      expect(result.out[1]).to.include('ops').and.include('admin');
      expect(result.out.join('\n')).not.to.include(created.out[0]!);
    });

    it('revoke revokes; an unknown id exits 1', async () => {
      await run(['create', '--role', 'admin', '--name', 'ops']);
      const [row] = await store.listTokens();
      expect((await run(['revoke', row!.id])).status).to.equal(0);
      expect((await store.listTokens())[0]!.revoked_at).to.be.a('string');
      const again = await run(['revoke', row!.id]);
      expect(again.status).to.equal(1);
      expect(again.err[0]).to.include(row!.id);
    });

    const mistakes = [
      [],
      ['rotate'],
      ['create'],
      ['create', '--role', 'owner'],
      ['create', '--role', 'admin', '--name', ''],
      ['create', '--role', 'admin', 'extra'],
      ['create', '--role', 'admin', '--colour', 'red'],
      ['list', '--role', 'admin'],
      ['revoke'],
      ['revoke', 'not-a-uuid'],
    ];
    for (const args of mistakes) {
      it(`token ${args.join(' ') || '(nothing)'} is a usage error`, () => {
        expect(() => parseTokenCommand(args)).to.throw(UsageError);
      });
    }
  });
});
