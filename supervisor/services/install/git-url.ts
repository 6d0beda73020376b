/**
 * Which Git URLs the server may fetch. A git install makes the server open connections on
 * a caller's behalf, so the URL is narrowed to plain http(s) (no transport that runs
 * commands or reads the server's disk, no credentials), and the host's addresses are checked
 * so the server cannot be pointed at itself, its private network or a cloud metadata service.
 */
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { ServiceError } from '../errors.js';

/** Every address of a host name, IPv4 and IPv6. Injectable so tests can play any DNS answer. */
export type DnsLookup = (hostname: string) => Promise<string[]>;

const systemDnsLookup: DnsLookup = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((answer) => answer.address);

/** Where git must connect: `url`'s host pinned to the addresses that were checked. */
export interface ResolvedHost {
  /** `HOST:PORT:ADDR[,ADDR]` for git's `http.curloptResolve`; null when the URL names an IP address. */
  curlResolve: string | null;
  addresses: string[];
}

const MAX_URL_LENGTH = 2048;

/** Ranges a private Git server lives in; reachable only with PLUGINS_GIT_ALLOW_PRIVATE. */
const PRIVATE_RANGES: ReadonlySet<string> = new Set(['loopback', 'private', 'uniqueLocal', 'carrierGradeNat']);
const RANGE_NAMES: Record<string, string> = {
  loopback: 'a loopback address (this server itself)',
  private: 'a private network address',
  uniqueLocal: 'a unique-local (private) IPv6 address',
  carrierGradeNat: 'a carrier-grade NAT address',
  linkLocal: 'a link-local address (where cloud metadata services answer)',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
};

const invalidUrl = (message: string) => new ServiceError(400, 'invalid_git_url', message);
const hostNotAllowed = (message: string) => new ServiceError(400, 'git_host_not_allowed', message);

/** The URL when it is an http(s) URL git may fetch; 400 `invalid_git_url` saying why not. */
export function checkGitUrl(text: string): URL {
  if (typeof text !== 'string' || text === '') throw invalidUrl('url is required: the http(s) URL of a Git repository');
  if (text.length > MAX_URL_LENGTH) throw invalidUrl(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  // Checked on the raw text: a leading "-" would reach git as an option, and URL parsing
  // would silently drop the spaces and line breaks that smuggle in other arguments.
  if (text.startsWith('-')) throw invalidUrl('the URL must not start with "-" (git would read it as an option)');
  if (/^ext::/i.test(text)) {
    throw invalidUrl('git\'s "ext::" transport runs a command on the server; only http:// and https:// URLs are accepted');
  }
  if (/^[a-z0-9+.-]+::/i.test(text)) {
    throw invalidUrl('git\'s remote-helper syntax ("<transport>::<address>") is not accepted; only http:// and https:// URLs are');
  }
  if (/[\s\u0000-\u001f\u007f]/.test(text)) throw invalidUrl('the URL must not contain spaces or control characters');
  if (!text.includes('://') && /^[^/]*@[^/]*:/.test(text)) {
    throw invalidUrl('"user@host:path" is an SSH address; the server has no SSH keys and only clones http:// and https:// URLs');
  }

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidUrl(`"${text}" is not a URL; give the http(s) URL of a Git repository`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') {
    const why: Record<string, string> = {
      file: 'it would read the server\'s own disk',
      ssh: 'the server has no SSH keys',
      git: 'the git:// protocol is neither encrypted nor authenticated',
    };
    const reason = why[scheme] ? `: ${why[scheme]}` : '';
    throw invalidUrl(`the "${scheme}:" scheme is not accepted${reason}; only http:// and https:// URLs are`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidUrl(
      'the URL carries credentials (user:password@): they would be stored with the plugin and shown to everyone who can read it, ' +
        'and this server only clones public repositories',
    );
  }
  return url;
}

/**
 * The range an address is judged by. IPv6 forms that carry an IPv4 address are judged by that
 * IPv4 address, or `[::127.0.0.1]` (which URL parsing turns into `::7f00:1`, a "unicast" IPv6
 * address to ipaddr.js) would reach this server's loopback: IPv4-mapped `::ffff:0:0/96`,
 * IPv4-compatible `::/96` (but `::` and `::1` themselves), IPv4-translated `::ffff:0:0:0/96`,
 * NAT64 `64:ff9b::/96` and 6to4 `2002::/16`.
 */
function rangeOf(address: string): string {
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.range();
  const bytes = (parsed as ipaddr.IPv6).toByteArray();
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  let embedded: number[] | null = null;
  const range = parsed.range();
  if (range === 'rfc6145' || range === 'rfc6052' || (zeros(0, 12) && range !== 'loopback' && range !== 'unspecified')) {
    embedded = bytes.slice(12, 16);
  } else if (range === '6to4') {
    embedded = bytes.slice(2, 6);
  }
  return embedded ? ipaddr.fromByteArray(embedded).range() : range;
}

/**
 * Resolves the URL's host (every address) and refuses it when any address is one the server
 * must not reach: link-local (cloud metadata), unspecified, multicast, broadcast and reserved
 * ranges always; loopback and private networks unless `allowPrivate`. Requiring every
 * address to pass means a DNS answer mixing a public and a private address is refused too.
 */
export async function resolveAllowedHost(
  url: URL,
  options: { allowPrivate: boolean; dnsLookup?: DnsLookup | undefined },
): Promise<ResolvedHost> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = ipaddr.isValid(host);
  let addresses: string[];
  if (literal) {
    addresses = [host];
  } else {
    try {
      addresses = await (options.dnsLookup ?? systemDnsLookup)(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw invalidUrl(`the host "${host}" could not be resolved (${code})`);
    }
    if (addresses.length === 0) throw invalidUrl(`the host "${host}" has no addresses`);
  }

  for (const address of addresses) {
    const range = rangeOf(address);
    if (range === 'unicast' || (options.allowPrivate && PRIVATE_RANGES.has(range))) continue;
    const what = RANGE_NAMES[range] ?? `an address of the reserved range "${range}"`;
    const named = literal ? `"${host}"` : `"${host}" resolves to ${address}, which`;
    const hint = PRIVATE_RANGES.has(range) ? ' (PLUGINS_GIT_ALLOW_PRIVATE=true permits private Git servers)' : '';
    throw hostNotAllowed(`${named} is ${what}; the server does not clone from there${hint}`);
  }

  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  // curl wants IPv6 addresses in brackets in a resolve entry.
  const pinned = addresses.map((address) => (ipaddr.parse(address).kind() === 'ipv6' ? `[${address}]` : address));
  return { curlResolve: literal ? null : `${host}:${port}:${pinned.join(',')}`, addresses };
}
