/**
 * `plugin-keeper keygen`: the Ed25519 key pair a plugin author signs with, made by the
 * server's own signature module, so the public key file holds exactly the form
 * PLUGINS_TRUSTED_PUBKEY takes (base64 of the raw 32 bytes).
 */
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair } from '../../supervisor/services/install/signature.js';
import { type Command, CommandFailed } from '../command.js';
import { parseCommandLine } from './args.js';

const DEFAULT_PREFIX = 'plugin-signing';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 key pair to sign plugins with',
  usage: `usage: plugin-keeper keygen [--out PREFIX]

Writes PREFIX.key, the private key (PKCS#8 PEM, mode 0600: keep it secret and out of the
plugin's repository), and PREFIX.pub, the public key as base64 of its 32 raw bytes: the
form a server's PLUGINS_TRUSTED_PUBKEY takes. Prints the public key on stdout.

  --out PREFIX   where to write the two files (default: ./${DEFAULT_PREFIX})

Existing files are never overwritten.`,

  async run(args, output) {
    const { values } = parseCommandLine(args, { out: { type: 'string' } }, 0);
    const prefix = path.resolve(values.out ?? DEFAULT_PREFIX);
    const privateFile = `${prefix}.key`;
    const publicFile = `${prefix}.pub`;
    // Both checked before either is written, so a refusal leaves no half of a pair behind.
    for (const file of [privateFile, publicFile]) {
      if (await lstat(file).then(() => true, () => false)) {
        throw new CommandFailed(`${file} already exists; keygen never overwrites a key (choose another --out)`);
      }
    }

    await mkdir(path.dirname(prefix), { recursive: true });
    const pair = generateKeyPair();
    const publicKey = pair.publicKey.toString('base64');
    // 'wx' still refuses a file that appeared since the check; the mode applies at creation.
    await writeFile(privateFile, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicFile, `${publicKey}\n`, { mode: 0o644, flag: 'wx' });

    output.out(publicKey);
    output.err(`wrote ${privateFile} (private: keep it secret) and ${publicFile}`);
    output.err(`sign with: plugin-keeper sign <plugin folder> --key ${privateFile}`);
    output.err(`trust on a server with: PLUGINS_TRUSTED_PUBKEY=${publicKey}`);
    return 0;
  },
};
