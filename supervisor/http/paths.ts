/**
 * Where each group of routes is served. The contract serves every plugin route under two
 * prefixes and every format route under two: the same router is mounted at each (./app.ts),
 * the auth policy lets readers GET below them (and below the repository mount) (./auth.ts), and the OpenAPI document lists
 * them (./openapi.ts).
 */

/** The first of each pair is the canonical, versioned one. */
export const PLUGIN_MOUNTS = ['/api/v1/plugins', '/api/plugins'] as const;
export const FORMAT_MOUNTS = ['/api/v1/formats', '/api/format-handlers'] as const;
export const REPOSITORY_MOUNTS = ['/api/v1/repositories'] as const;
/** New with the cluster: no older alias to keep. */
export const CLUSTER_MOUNTS = ['/api/v1/cluster'] as const;
export const OPENAPI_PATH = '/api/v1/openapi.json';
/** Who the caller is (any authenticated role). */
export const ME_PATH = '/api/v1/me';
/** Native client protocols: `/ext/:format_key/:repo_key/*path`. */
export const EXT_PREFIX = '/ext';

/** Probes: no credentials, whatever the rest of the server asks. */
export const PUBLIC_PATHS = ['/health', '/ready', '/metrics'] as const;

/** What the `reader` role may GET (and HEAD): the resources it can read, native protocols, and the API description. */
export const READER_PATHS: readonly string[] = [...PLUGIN_MOUNTS, ...FORMAT_MOUNTS, ...REPOSITORY_MOUNTS, ...CLUSTER_MOUNTS, EXT_PREFIX, OPENAPI_PATH, ME_PATH];

/**
 * What anonymous callers may reach on a public repository (the contract: "its download and
 * `/ext` routes"): reading its artifacts and index, and its native protocol (any method: a
 * plugin can only answer, never write). The first group is the repository key.
 */
export const PUBLIC_REPOSITORY_READS = /^\/api\/v1\/repositories\/([^/]+)\/(?:artifacts|index)(?:\/|$)/i;
export const PUBLIC_REPOSITORY_NATIVE = /^\/ext\/[^/]+\/([^/]+)(?:\/|$)/i;

/** Whether `path` is `base` or lies below it, ignoring case as the router does. */
export function isAtOrBelow(path: string, base: string): boolean {
  const lower = path.toLowerCase();
  return lower === base || lower.startsWith(`${base}/`);
}
