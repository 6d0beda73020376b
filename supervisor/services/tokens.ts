/**
 * API tokens: created by the CLI (or at first start), kept only as SHA-256 digests, checked on
 * every request. The secret is shown once, at creation; after that nobody can read it back,
 * only revoke it.
 *
 * Besides stored tokens, two bootstrap secrets come from the configuration: `ADMIN_TOKEN`
 * (a bearer token) and `ADMIN_PASSWORD` (HTTP Basic as `admin`). When neither is set and the
 * store holds no admin token, `bootstrap()` makes one so a new installation is usable at once.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { ApiTokenRow, Role, StoreOps } from '../store/store.js';
import type { Principal } from './contracts.js';
import { sha256Hex } from '../sha256.js';

export type TokenStore = Pick<StoreOps, 'insertToken' | 'findTokenByHash' | 'listTokens' | 'revokeToken' | 'touchToken'>;

/** A token as listed: everything but its digest. */
export type TokenView = Omit<ApiTokenRow, 'token_hash'>;

/** A token just created: the only time its secret is known. */
export type CreatedToken = TokenView & { token: string };

export interface GeneratedAdminToken {
  id: string;
  token: string;
  /** Where a copy was written (mode 0600). */
  file: string;
}

/** Tells the secret apart in logs, config files and secret scanners. */
const TOKEN_PREFIX = 'pk_';
export const ADMIN_TOKEN_FILE = 'admin-token';
/** The ADMIN_PASSWORD user of HTTP Basic. */
const ADMIN_USER = 'admin';
/** `last_used_at` is for spotting unused tokens, not an access log: minute precision is plenty. */
export const TOUCH_INTERVAL_MS = 60_000;

export class TokenService {
  /** When each token was last touched by this process, so concurrent requests touch it once. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: TokenStore,
    private readonly settings: Pick<Config, 'adminToken' | 'adminPassword' | 'dataDir'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** 32 random bytes, base64url, with TOKEN_PREFIX; stored as their SHA-256. */
  async create(input: { role: Role; name: string }): Promise<CreatedToken> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const row = await this.store.insertToken({ id: randomUUID(), name: input.name, role: input.role, token_hash: hashToken(token) });
    return { ...view(row), token };
  }

  /** Revoked ones included, oldest first. */
  async list(): Promise<TokenView[]> {
    return (await this.store.listTokens()).map(view);
  }

  /** False when there is no such token or it was revoked already. */
  revoke(id: string): Promise<boolean> {
    return this.store.revokeToken(id);
  }

  /** ADMIN_TOKEN or a stored, unrevoked token → its principal; anything else → null. */
  async verifyToken(token: string): Promise<Principal | null> {
    if (this.settings.adminToken !== undefined && sameSecret(token, this.settings.adminToken)) {
      return { role: 'admin', id: 'bootstrap', name: 'ADMIN_TOKEN' };
    }
    // Looked up by digest: the database compares digests, which tell an attacker nothing
    // about the secret, so this lookup needs no constant-time care of its own.
    const row = await this.store.findTokenByHash(hashToken(token));
    if (!row) return null;
    await this.touch(row);
    return { role: row.role, id: row.id, name: row.name };
  }

  /** `admin` with ADMIN_PASSWORD, or any user name with a token as the password. */
  async verifyBasic(user: string, password: string): Promise<Principal | null> {
    if (user === ADMIN_USER && this.settings.adminPassword !== undefined && sameSecret(password, this.settings.adminPassword)) {
      return { role: 'admin', id: 'bootstrap', name: ADMIN_USER };
    }
    return this.verifyToken(password);
  }

  /**
   * At start: when neither ADMIN_TOKEN nor ADMIN_PASSWORD is set and no unrevoked admin token
   * exists, creates one and writes it to `<dataDir>/admin-token` (mode 0600). Returns it so
   * the caller prints it once; null when nothing was needed. Revoking every admin token and
   * restarting therefore yields a fresh one: the way back in for whoever owns the data folder.
   */
  async bootstrap(): Promise<GeneratedAdminToken | null> {
    if (this.settings.adminToken !== undefined || this.settings.adminPassword !== undefined) return null;
    const tokens = await this.store.listTokens();
    if (tokens.some((token) => token.role === 'admin' && token.revoked_at === null)) return null;

    const created = await this.create({ role: 'admin', name: 'admin (generated at first start)' });
    const file = path.join(this.settings.dataDir, ADMIN_TOKEN_FILE);
    try {
      await writeSecret(file, `${created.token}\n`);
    } catch (error) {
      // A token nobody was told about would only be a liability.
      await this.store.revokeToken(created.id);
      throw error;
    }
    return { id: created.id, token: created.token, file };
  }

  private async touch(row: ApiTokenRow): Promise<void> {
    const now = this.now();
    const stored = row.last_used_at === null ? 0 : Date.parse(row.last_used_at);
    const last = Math.max(stored, this.touched.get(row.id) ?? 0);
    if (now - last < TOUCH_INTERVAL_MS) return;
    this.touched.set(row.id, now);
    await this.store.touchToken(row.id);
  }
}

function hashToken(token: string): string {
  return sha256Hex(token);
}

/** Constant time whatever the lengths: the digests compared always have the same length. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

function view({ token_hash: _hash, ...rest }: ApiTokenRow): TokenView {
  return rest;
}

/**
 * Written under a temporary name and renamed into place, so the file is never seen half
 * written, and created with mode 0600 (a mode given to writeFile is ignored when the file
 * already exists).
 */
async function writeSecret(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
