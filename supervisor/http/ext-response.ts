/**
 * Which headers of a plugin's native answer (`/ext`) reach the client: an answer is served
 * on this service's own origin, next to its API and its credentials, so a plugin may describe
 * its content and caching, and point within its repository, but never set cookies, security
 * policies, authentication challenges, CORS, framing or the request id.
 *
 * Only the headers of EXT_RESPONSE_HEADERS pass, each with a value of its own syntax (one
 * that is not is dropped); anything else is dropped. Cache-Control of a private repository's
 * answer always says `private` (never `public` or `s-maxage`), so no shared cache keeps it.
 * Location must stay in the repository (its `/ext/<format>/<repo>/` or its
 * `/api/v1/repositories/<repo>/` routes, on this service's external URL): anything else is a
 * 502 `plugin_invalid_response`, since a redirect without its target is no answer. Link
 * targets follow the same rule; a Link naming anything else is dropped. The server's own
 * nosniff and sandboxing CSP are set after these and cannot be replaced.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { MEDIA_TYPE, PLUGIN_RESULT_LIMITS } from '../formats/plugin-results.js';
import { PluginInvalidResponse } from '../formats/errors.js';

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const TOKEN_LIST = new RegExp(`^${TOKEN}(\\s*,\\s*${TOKEN})*$`);
const HTTP_DATE = (value: string) => /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value) && !Number.isNaN(Date.parse(value));

/** Lowercase name → whether a value is acceptable (after Node's own header checks). */
const RULES: Record<string, (value: string) => boolean> = {
  'content-type': (value) => value.length <= PLUGIN_RESULT_LIMITS.contentTypeLength && MEDIA_TYPE.test(value),
  'content-encoding': (value) => TOKEN_LIST.test(value),
  'content-disposition': (value) => /^(inline|attachment)\s*(;.*)?$/i.test(value),
  'content-language': (value) => /^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$/.test(value),
  etag: (value) => /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/.test(value),
  'last-modified': HTTP_DATE,
  // "0" and other invalid dates mean "already expired" (RFC 9111 §5.3).
  expires: (value) => HTTP_DATE(value) || /^-?\d+$/.test(value),
  'content-range': (value) => /^bytes (\d+-\d+|\*)\/(\d+|\*)$/.test(value),
  'accept-ranges': (value) => /^(bytes|none)$/.test(value),
  'docker-content-digest': (value) => /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,256}$/.test(value),
  'docker-distribution-api-version': (value) => /^[A-Za-z0-9._/-]{1,64}$/.test(value),
  vary: (value) => value === '*' || TOKEN_LIST.test(value),
  'cache-control': (value) => CACHE_DIRECTIVES.test(value),
  // Checked against the repository below.
  location: () => true,
  link: () => true,
};

/** The response headers a plugin may set on an /ext answer, lowercase. */
export const EXT_RESPONSE_HEADERS: readonly string[] = Object.keys(RULES);

/** Headers that are lists: several of them add up. Of any other, the last valid one is sent. */
const LIST_HEADERS = new Set(['content-encoding', 'content-language', 'vary', 'link']);

const CACHE_DIRECTIVES = new RegExp(`^${TOKEN}(=(${TOKEN}|"[^"\\\\]*"))?(\\s*,\\s*${TOKEN}(=(${TOKEN}|"[^"\\\\]*"))?)*$`);
/** Directives that let a shared cache keep an answer. */
const SHARED_CACHE_DIRECTIVES = new Set(['public', 's-maxage', 'proxy-revalidate']);

export interface AnswerScope {
  formatKey: string;
  repositoryKey: string;
  /** Whether anonymous callers may read the repository. */
  repositoryPublic: boolean;
  /** This service's external base URL (PUBLIC_URL or the request's scheme and host). */
  externalBase: string;
  /** The request's own external URL, against which relative references resolve. */
  requestUrl: string;
}

/** The headers to send, in order, as [name, value]; throws a PluginInvalidResponse for a Location outside the repository. */
export function extResponseHeaders(headers: ReadonlyArray<[string, string]>, scope: AnswerScope): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  const keep = (name: string, value: string) => {
    const earlier = LIST_HEADERS.has(name) ? -1 : kept.findIndex(([keptName]) => keptName === name);
    if (earlier >= 0) kept.splice(earlier, 1);
    kept.push([name, value]);
  };
  const cacheControl: string[] = [];
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    const rule = RULES[name];
    if (!rule || !isValidHeader(name, value) || !rule(value)) continue;
    if (name === 'cache-control') cacheControl.push(value);
    else if (name === 'location') keep(name, inRepository(value, scope) ?? outside(value, scope));
    else if (name === 'link') {
      if (linkTargets(value)?.every((target) => inRepository(target, scope) !== null)) keep(name, value);
    } else keep(name, value);
  }
  const cache = scope.repositoryPublic ? cacheControl.join(', ') : privateCacheControl(cacheControl);
  if (cache) kept.push(['cache-control', cache]);
  return kept;
}

/** Node's own rules for what `setHeader` accepts: an answer never fails on a header the plugin made up. */
function isValidHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

/** The plugin's directives without those for shared caches, and `private`. */
function privateCacheControl(values: string[]): string {
  const directives = values
    .flatMap((value) => value.split(/\s*,\s*/))
    .filter((directive) => {
      const name = directive.split('=')[0]!.toLowerCase();
      return !SHARED_CACHE_DIRECTIVES.has(name) && name !== 'private';
    });
  return ['private', ...directives].join(', ');
}

/** The absolute URL `reference` names, when it lies within the repository's own routes; else null. */
function inRepository(reference: string, scope: AnswerScope): string | null {
  let url: URL;
  try {
    url = new URL(reference, scope.requestUrl);
  } catch {
    return null;
  }
  const href = url.href;
  const base = scope.externalBase;
  const native = `${base}/ext/${scope.formatKey}/${scope.repositoryKey}`;
  const api = `${base}/api/v1/repositories/${scope.repositoryKey}/`;
  const within = href === native || href.startsWith(`${native}/`) || href.startsWith(`${native}?`) || href.startsWith(api);
  return within && !url.username && !url.password ? href : null;
}

function outside(reference: string, scope: AnswerScope): never {
  const shown = reference.length > 200 ? `${reference.slice(0, 200)}...` : reference;
  throw new PluginInvalidResponse(
    `the ${scope.formatKey} plugin returned an invalid handle-request result: Location ${JSON.stringify(shown)} points outside the repository (${scope.externalBase}/ext/${scope.formatKey}/${scope.repositoryKey}/ or ${scope.externalBase}/api/v1/repositories/${scope.repositoryKey}/)`,
  );
}

/** The `<...>` targets of a Link header, or null when it is not one (RFC 8288). */
function linkTargets(value: string): string[] | null {
  const link = /^\s*<([^>]*)>\s*(?:;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\*?\s*(?:=\s*(?:"[^"]*"|[^;,"\s]+))?\s*)*$/;
  const targets: string[] = [];
  for (const part of value.split(/,(?=\s*<)/)) {
    const match = link.exec(part);
    if (!match) return null;
    targets.push(match[1]!);
  }
  return targets;
}
