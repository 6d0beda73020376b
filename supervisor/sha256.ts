/**
 * SHA-256 as lowercase hex: the name of every blob, plugin component and transpile cache
 * entry, and the checksum artifacts are served and indexed with.
 */
import { createHash } from 'node:crypto';

/** Text is hashed as its UTF-8 bytes. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
