/**
 * Repository visibility, as auth's `allowAnonymous` hook: a request without credentials may
 * read a public repository's artifacts and index, and use its native protocol; anything else
 * (a private or unknown repository included) gets auth's 401, so anonymous callers cannot
 * tell a private repository from a missing one.
 */
import { PUBLIC_REPOSITORY_NATIVE, PUBLIC_REPOSITORY_READS } from './paths.js';
import type { AppContext } from './state.js';

export function publicRepositoryAccess(isPublic: (repositoryKey: string) => Promise<boolean>): (ctx: AppContext) => Promise<boolean> {
  return async (ctx) => {
    const native = PUBLIC_REPOSITORY_NATIVE.exec(ctx.path);
    const read = (ctx.method === 'GET' || ctx.method === 'HEAD') && PUBLIC_REPOSITORY_READS.exec(ctx.path);
    const encodedKey = native?.[1] ?? (read ? read[1] : undefined);
    if (encodedKey === undefined) return false;
    let key: string;
    try {
      key = decodeURIComponent(encodedKey);
    } catch {
      return false;
    }
    return isPublic(key);
  };
}
