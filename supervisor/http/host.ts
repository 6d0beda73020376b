/**
 * The Host a request names is not trusted: it becomes the URLs plugins put in their answers
 * (pip follows a redirect to whatever `base-url` says). A request whose host is not one of
 * ALLOWED_HOSTS (any port) is refused with 400 `invalid_host` on every route, before auth,
 * as Django does; so is a host that is no host, and, behind a trusted proxy, an
 * X-Forwarded-Proto other than http or https. What is left is the external base URL handed to
 * plugins: PUBLIC_URL when it is set, else the request's own scheme and host.
 */
import type { Config } from '../config.js';
import { ServiceError } from '../services/errors.js';
import type { AppMiddleware } from './state.js';

/** `name[:port]` or `[ipv6][:port]`. */
const HOST = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/;

export function checkHost(config: Pick<Config, 'allowedHosts' | 'publicUrl' | 'trustProxy'>): AppMiddleware {
  return async (ctx, next) => {
    // ctx.host and ctx.protocol follow X-Forwarded-Host/Proto only when the app trusts a proxy.
    const host = ctx.host;
    const via = config.trustProxy && ctx.get('X-Forwarded-Host') ? 'X-Forwarded-Host' : 'Host';
    const name = hostName(host);
    if (name === null) throw invalidHost(`the ${via} header ${JSON.stringify(host.slice(0, 300))} is not a host name with an optional port`);
    if (!isAllowed(name, config.allowedHosts)) {
      throw invalidHost(`the host ${JSON.stringify(name)} (${via} header) is not served here; the server's operator can add it to ALLOWED_HOSTS`);
    }
    const protocol = ctx.protocol;
    if (protocol !== 'http' && protocol !== 'https') throw invalidHost(`X-Forwarded-Proto must be http or https, got ${JSON.stringify(protocol.slice(0, 100))}`);
    // As URL writes it (lowercase, no default port), so that URLs plugins derive from it compare equal.
    ctx.state.externalBase = config.publicUrl ?? new URL(`${protocol}://${host}`).origin;
    await next();
  };
}

/** The host name of a Host header, lowercase, without a trailing dot or IPv6 brackets; null when it is none. */
export function hostName(host: string): string | null {
  const match = HOST.exec(host);
  if (!match || (match[3] !== undefined && Number(match[3]) > 65535)) return null;
  return (match[1] ?? match[2]!).toLowerCase().replace(/\.$/, '');
}

export function isAllowed(name: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => entry === '*' || entry === name || (entry.startsWith('.') && (name === entry.slice(1) || name.endsWith(entry))));
}

const invalidHost = (message: string) => new ServiceError(400, 'invalid_host', message);
