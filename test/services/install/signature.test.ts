import { expect } from 'chai';
import { checkSignature, generateKeyPair, sign } from '../../../supervisor/services/install/signature.js';

const wasm = new TextEncoder().encode('\0asm pretend component bytes');
const encode = (text: string) => new TextEncoder().encode(text);

describe('install: signature', () => {
  const author = generateKeyPair();
  const stranger = generateKeyPair();
  const trusted = { requireSigned: false, trustedPublicKeys: [stranger.publicKey, author.publicKey] };

  it('makes raw 32-byte public keys and PEM private keys', () => {
    expect(author.publicKey).to.have.length(32);
    expect(author.privateKeyPem).to.match(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('verifies a signature made with a trusted key (a trailing newline is fine)', () => {
    const signature = encode(`${sign(wasm, author.privateKeyPem)}\n`);
    expect(checkSignature(wasm, signature, { ...trusted, requireSigned: true })).to.deep.equal({ signature: 'verified', problems: [], warnings: [] });
  });

  it('refuses a signature made with a key the server does not trust', () => {
    const check = checkSignature(wasm, encode(sign(wasm, author.privateKeyPem)), { requireSigned: false, trustedPublicKeys: [stranger.publicKey] });
    expect(check.signature).to.equal('absent');
    expect(check.problems).to.deep.equal([
      { field: 'plugin.wasm.sig', message: 'plugin.wasm.sig does not match the .wasm under any of the 1 trusted public key(s)' },
    ]);
  });

  it('refuses a signature of other bytes', () => {
    const check = checkSignature(wasm, encode(sign(encode('other bytes'), author.privateKeyPem)), trusted);
    expect(check.problems.map((problem) => problem.field)).to.deep.equal(['plugin.wasm.sig']);
  });

  it('refuses a corrupted signature', () => {
    const signature = Buffer.from(sign(wasm, author.privateKeyPem), 'base64');
    signature[10]! ^= 0xff;
    const check = checkSignature(wasm, encode(signature.toString('base64')), trusted);
    expect(check.problems[0]!.message).to.match(/does not match the .wasm/);
  });

  it('refuses a file that is not base64 of 64 bytes', () => {
    for (const text of ['not base64 at all!', Buffer.alloc(32).toString('base64'), `${sign(wasm, author.privateKeyPem)}junk`]) {
      const check = checkSignature(wasm, encode(text), trusted);
      expect(check.problems, text).to.deep.equal([
        { field: 'plugin.wasm.sig', message: 'plugin.wasm.sig is not the base64 of a 64-byte Ed25519 signature' },
      ]);
    }
  });

  it('refuses an unsigned package when signatures are required', () => {
    const check = checkSignature(wasm, null, { ...trusted, requireSigned: true });
    expect(check.problems).to.have.length(1);
    expect(check.problems[0]!.message).to.match(/only installs signed plugins: add plugin.wasm.sig/);
  });

  it('accepts an unsigned package when signatures are optional', () => {
    expect(checkSignature(wasm, null, trusted)).to.deep.equal({ signature: 'absent', problems: [], warnings: [] });
  });

  it('warns that a signature was not checked when no key is trusted', () => {
    const check = checkSignature(wasm, encode(sign(wasm, author.privateKeyPem)), { requireSigned: false, trustedPublicKeys: [] });
    expect(check).to.deep.equal({
      signature: 'absent',
      problems: [],
      warnings: ['plugin.wasm.sig was not checked: this server trusts no public keys (PLUGINS_TRUSTED_PUBKEY)'],
    });
  });
});
