/**
 * Credentials → principal, and the role check, before any routing: an anonymous or badly
 * authenticated request learns nothing about which routes exist (401 on any path, whatever
 * its method), and a reader is turned away from anything but reading (403).
 *
 * Accepted credentials, first found wins: `Authorization: Bearer <token>`,
 * `Authorization: Basic <user:password>` (`admin:<ADMIN_PASSWORD>`, or any user name with a
 * token as the password), `X-Api-Key: <token>`. Only the probes of PUBLIC_PATHS need none.
 */
import type { Principal } from '../services/contracts.js';
import { ServiceError } from '../services/errors.js';
import { PUBLIC_PATHS, READER_PATHS, isAtOrBelow } from './paths.js';
import type { AppContext, AppMiddleware } from './state.js';

/** Checks secrets (in constant time); null when they name nobody. Implemented by TokenService. */
export interface CredentialVerifier {
  verifyToken(token: string): Promise<Principal | null>;
  verifyBasic(user: string, password: string): Promise<Principal | null>;
}

export interface AuthOptions {
  verifier: CredentialVerifier;
  /**
   * Lets a request without credentials through to its route, which then sees no principal.
   * The hook for public repositories' anonymous download and `/ext` routes; a request that
   * does carry credentials is always checked, so a bad token never passes as anonymous, and
   * a reader may do whatever anonymous callers may.
   */
  allowAnonymous?: (ctx: AppContext) => boolean | Promise<boolean>;
}

export const WWW_AUTHENTICATE = 'Bearer, Basic';

type Credentials = { kind: 'token'; token: string } | { kind: 'basic'; user: string; password: string };

export function authenticate(options: AuthOptions): AppMiddleware {
  return async (ctx, next) => {
    if (PUBLIC_PATHS.some((path) => isAtOrBelow(ctx.path, path))) return next();

    const credentials = readCredentials(ctx);
    if (!credentials) {
      if (await options.allowAnonymous?.(ctx)) return next();
      throw unauthorized(ctx, 'unauthorized', 'credentials are required: send "Authorization: Bearer <token>", "X-Api-Key: <token>" or HTTP Basic');
    }
    const principal =
      credentials.kind === 'token'
        ? await options.verifier.verifyToken(credentials.token)
        : await options.verifier.verifyBasic(credentials.user, credentials.password);
    if (!principal) throw unauthorized(ctx, 'invalid_credentials', 'the token or password is not valid, or the token was revoked');
    ctx.state.principal = principal;

    if (!mayCall(principal, ctx.method, ctx.path) && !(await options.allowAnonymous?.(ctx))) {
      throw new ServiceError(403, 'forbidden', `${ctx.method} ${ctx.path} needs the admin role; the ${principal.role} role may only read`);
    }
    return next();
  };
}

/** Admins may do everything; readers may GET (and HEAD) the resources of READER_PATHS. */
function mayCall(principal: Principal, method: string, path: string): boolean {
  if (principal.role === 'admin') return true;
  return (method === 'GET' || method === 'HEAD') && READER_PATHS.some((base) => isAtOrBelow(path, base));
}

function readCredentials(ctx: AppContext): Credentials | undefined {
  const authorization = ctx.get('Authorization').trim();
  if (authorization) {
    const match = /^(\S+)\s+(\S+)$/.exec(authorization);
    if (!match) throw unauthorized(ctx, 'invalid_credentials', 'the Authorization header must be "Bearer <token>" or "Basic <base64 of user:password>"');
    const [, scheme, value] = match;
    switch (scheme.toLowerCase()) {
      case 'bearer':
        return { kind: 'token', token: value };
      case 'basic':
        return readBasic(ctx, value);
      default:
        throw unauthorized(ctx, 'invalid_credentials', `the authorization scheme "${scheme}" is not supported; use Bearer or Basic`);
    }
  }
  const apiKey = ctx.get('X-Api-Key').trim();
  return apiKey ? { kind: 'token', token: apiKey } : undefined;
}

function readBasic(ctx: AppContext, encoded: string): Credentials {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized(ctx, 'invalid_credentials', 'HTTP Basic credentials must be the base64 of "user:password"');
  return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function unauthorized(ctx: AppContext, code: string, message: string): ServiceError {
  // Set here rather than by the error middleware: only authentication failures carry it.
  ctx.set('WWW-Authenticate', WWW_AUTHENTICATE);
  return new ServiceError(401, code, message);
}
