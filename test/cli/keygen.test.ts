import { expect } from 'chai';
import { createPrivateKey } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../supervisor/config.js';
import { tempFolder } from '../services/install/helpers.js';
import { pluginKeeper } from './helpers.js';

describe('plugin-keeper keygen', function () {
  this.timeout(30_000);
  let dir: string;
  let remove: () => Promise<void>;

  beforeEach(async () => {
    ({ dir, remove } = await tempFolder('keygen'));
  });
  afterEach(() => remove());

  it('writes a private key only its owner can read and a public key the server configuration accepts', async () => {
    const prefix = path.join(dir, 'keys', 'author');
    const result = await pluginKeeper(['keygen', '--out', prefix]);
    expect(result.exitCode, result.stderr).to.equal(0);

    expect((await stat(`${prefix}.key`)).mode & 0o777).to.equal(0o600);
    const privateKey = createPrivateKey(await readFile(`${prefix}.key`, 'utf8'));
    expect(privateKey.asymmetricKeyType).to.equal('ed25519');

    const publicKey = (await readFile(`${prefix}.pub`, 'utf8')).trim();
    expect(result.stdout).to.equal(publicKey);
    const config = loadConfig({ PLUGINS_REQUIRE_SIGNED: 'true', PLUGINS_TRUSTED_PUBKEY: publicKey });
    expect(config.plugins.trustedPublicKeys).to.have.length(1);
    expect(config.plugins.trustedPublicKeys[0]!.toString('base64')).to.equal(publicKey);
  });

  it('writes ./plugin-signing.* by default', async () => {
    const result = await pluginKeeper(['keygen'], { cwd: dir });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect((await stat(path.join(dir, 'plugin-signing.key'))).isFile()).to.equal(true);
    expect((await stat(path.join(dir, 'plugin-signing.pub'))).isFile()).to.equal(true);
  });

  it('never overwrites a key, not even half of a pair', async () => {
    const prefix = path.join(dir, 'author');
    await writeFile(`${prefix}.pub`, 'someone else\n');
    const result = await pluginKeeper(['keygen', '--out', prefix]);
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.include('already exists');
    expect(await readFile(`${prefix}.pub`, 'utf8')).to.equal('someone else\n');
    expect(await stat(`${prefix}.key`).catch(() => null)).to.equal(null);
  });
});
