/**
 * Artifact paths a caller sends: normalised and checked by the one rule of
 * ../../relative-path.ts (`..` segments, a leading `/`, backslashes, control characters,
 * drive letters, length), refused with a 400 naming the problem.
 */
import { checkRelativePath } from '../../relative-path.js';
import { ServiceError } from '../errors.js';

/** `checkRelativePath` for a path a caller sent: 400 `invalid_path` naming the problem. */
export function normalizeArtifactPath(raw: string): string {
  const checked = checkRelativePath(raw);
  if ('path' in checked) return checked.path;
  const message = `invalid artifact path ${JSON.stringify(raw)}: ${checked.problem}`;
  throw new ServiceError(400, 'invalid_path', message, { validation_errors: [{ field: 'path', message }] });
}
