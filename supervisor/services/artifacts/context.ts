/**
 * The repository context handed to format handlers: where the repository's native protocol
 * and its downloads are, as absolute URLs on one base URL (a request's external base for
 * /ext calls, PUBLIC_URL or its fallback for index runs: config.ts `indexBaseUrl`).
 */
import type { RepoContext } from '../../formats/handler.js';

export function repositoryContext(baseUrl: string, formatKey: string, repositoryKey: string): RepoContext {
  return {
    repoKey: repositoryKey,
    baseUrl: `${baseUrl}/ext/${formatKey}/${repositoryKey}`,
    downloadBaseUrl: `${baseUrl}/api/v1/repositories/${repositoryKey}/artifacts`,
  };
}
