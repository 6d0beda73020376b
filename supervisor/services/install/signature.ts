/**
 * Package signatures: `plugin.wasm.sig` next to plugin.toml holds the base64 of the 64-byte
 * Ed25519 signature of the component's bytes. The server trusts the raw 32-byte public keys
 * of its configuration (PLUGINS_TRUSTED_PUBKEY); `generateKeyPair` and `sign` are the
 * author's side of the same scheme.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign as signBytes, verify } from 'node:crypto';
import type { ValidationProblem } from '../errors.js';

/** The signature file's name, at the package root. */
export const SIGNATURE_FILE = 'plugin.wasm.sig';

const SIGNATURE_BYTES = 64;
const PUBLIC_KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface SignaturePolicy {
  requireSigned: boolean;
  /** Raw 32-byte Ed25519 public keys. */
  trustedPublicKeys: Buffer[];
}

export interface SignatureCheck {
  /** 'absent' also covers a signature that could not be checked because no key is trusted (see `warnings`). */
  signature: 'verified' | 'absent';
  problems: ValidationProblem[];
  warnings: string[];
}

/** Checks `plugin.wasm.sig` (its bytes, or null when the package has none) against the trusted keys. */
export function checkSignature(wasm: Uint8Array, signatureFile: Uint8Array | null, policy: SignaturePolicy): SignatureCheck {
  const problem = (message: string): SignatureCheck => ({
    signature: 'absent',
    problems: [{ field: SIGNATURE_FILE, message }],
    warnings: [],
  });

  if (signatureFile === null) {
    return policy.requireSigned
      ? problem(`this server only installs signed plugins: add ${SIGNATURE_FILE} (the base64 Ed25519 signature of the .wasm)`)
      : { signature: 'absent', problems: [], warnings: [] };
  }
  const signature = decodeSignature(signatureFile);
  if (signature === null) {
    return problem(`${SIGNATURE_FILE} is not the base64 of a ${SIGNATURE_BYTES}-byte Ed25519 signature`);
  }
  if (policy.trustedPublicKeys.length === 0) {
    // Nothing to check against, and nothing asks for a check: installing is the operator's
    // choice, but the author should know the signature meant nothing here.
    return {
      signature: 'absent',
      problems: [],
      warnings: [`${SIGNATURE_FILE} was not checked: this server trusts no public keys (PLUGINS_TRUSTED_PUBKEY)`],
    };
  }
  const trusted = policy.trustedPublicKeys.some((key) => verify(null, wasm, publicKeyFromRaw(key), signature));
  return trusted
    ? { signature: 'verified', problems: [], warnings: [] }
    : problem(`${SIGNATURE_FILE} does not match the .wasm under any of the ${policy.trustedPublicKeys.length} trusted public key(s)`);
}

export interface SigningKeyPair {
  /** Raw 32 bytes: its base64 is what PLUGINS_TRUSTED_PUBKEY takes. */
  publicKey: Buffer;
  /** PKCS#8 PEM, for the author to keep. */
  privateKeyPem: string;
}

export function generateKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The contents of `plugin.wasm.sig` for `wasm`: the base64 of its Ed25519 signature. */
export function sign(wasm: Uint8Array, privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return signBytes(null, wasm, key).toString('base64');
}

function decodeSignature(file: Uint8Array): Buffer | null {
  // A trailing newline is what an editor or `echo` leaves; anything else is malformed.
  const text = Buffer.from(file).toString('latin1').trim();
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === SIGNATURE_BYTES ? bytes : null;
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== PUBLIC_KEY_BYTES) throw new Error(`an Ed25519 public key has ${PUBLIC_KEY_BYTES} bytes, not ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function rawPublicKey(key: KeyObject): Buffer {
  const { x } = key.export({ format: 'jwk' });
  return Buffer.from(x!, 'base64url');
}
