/**
 * `plugin-keeper sign`: writes `plugin.wasm.sig` beside plugin.toml, with the server's own
 * signature module, for the component the server itself would pick (the manifest's
 * `[plugin].wasm`, else its usual search). The signature is then checked the way an install
 * checks it, against the public half of the same key, before the command reports success.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { locateWasm } from '../../supervisor/services/install/locate.js';
import { checkManifest } from '../../supervisor/services/install/manifest.js';
import { MANIFEST_FILE } from '../../supervisor/services/install/package.js';
import { checkSignature, sign, SIGNATURE_FILE } from '../../supervisor/services/install/signature.js';
import { type Command, CommandFailed, UsageError } from '../command.js';
import { parseCommandLine } from './args.js';

export const signCommand: Command = {
  name: 'sign',
  summary: 'sign a plugin\'s component (writes plugin.wasm.sig)',
  usage: `usage: plugin-keeper sign [DIR] --key FILE

Signs the component of the plugin in DIR (default: the current folder) with the Ed25519
private key FILE (from plugin-keeper keygen) and writes DIR/${SIGNATURE_FILE}: what a server
with PLUGINS_REQUIRE_SIGNED=true verifies against PLUGINS_TRUSTED_PUBKEY. The signature
covers the component's exact bytes: sign again after every build, then pack.

  --key FILE   the private key (PKCS#8 PEM)`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(args, { key: { type: 'string' } }, 1);
    if (values.key === undefined) throw new UsageError('--key is required: the private key file (see plugin-keeper keygen)');
    const root = path.resolve(positionals[0] ?? '.');
    const key = await readPrivateKey(values.key);

    const manifestText = await readFile(path.join(root, MANIFEST_FILE), 'utf8').catch(() => {
      throw new CommandFailed(`${root} has no readable ${MANIFEST_FILE}: is it a plugin folder?`);
    });
    const found = await locateWasm(root, checkManifest(manifestText).declaredWasm);
    if (!found.found) throw new CommandFailed(`nothing to sign: ${found.problem.message} (run plugin-keeper build first)`);
    const wasm = await readFile(path.join(root, found.path));

    const signature = sign(wasm, key);
    const publicKey = rawPublicKey(key);
    const check = checkSignature(wasm, Buffer.from(signature), { requireSigned: true, trustedPublicKeys: [publicKey] });
    if (check.signature !== 'verified') {
      throw new CommandFailed('the new signature does not verify', check.problems.map((problem) => problem.message));
    }
    const signatureFile = path.join(root, SIGNATURE_FILE);
    await writeFile(signatureFile, `${signature}\n`);

    output.out(signatureFile);
    output.err(`signed ${found.path} (${wasm.byteLength} bytes); a server verifies it with PLUGINS_TRUSTED_PUBKEY=${publicKey.toString('base64')}`);
    return 0;
  },
};

async function readPrivateKey(file: string): Promise<KeyObject> {
  const pem = await readFile(file, 'utf8').catch((error: Error) => {
    throw new CommandFailed(`cannot read the key ${file}: ${error.message}`);
  });
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CommandFailed(`${file} is not a private key in PEM form (make one with plugin-keeper keygen)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new CommandFailed(`${file} is an ${key.asymmetricKeyType} key; plugin signatures are Ed25519 (plugin-keeper keygen)`);
  }
  return key;
}

/** The public half as the raw 32 bytes servers list in PLUGINS_TRUSTED_PUBKEY. */
function rawPublicKey(privateKey: KeyObject): Buffer {
  return Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
}
