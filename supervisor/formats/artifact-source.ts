/**
 * The artifacts handlers are given (`ArtifactSource` of ./handler.ts): a staged upload read
 * with positional reads, or bytes already in memory (the format test endpoint's).
 */
import { open } from 'node:fs/promises';
import type { ArtifactSource } from './handler.js';

/** The staged file `file` of `size` bytes; each read opens it, so nothing is left open between calls. */
export function fileSource(file: string, size: number): ArtifactSource {
  return {
    size,
    file,
    async read(offset, length) {
      const count = clamp(size, offset, length);
      if (count === 0) return new Uint8Array(0);
      const handle = await open(file, 'r');
      try {
        const buffer = Buffer.allocUnsafe(count);
        let filled = 0;
        while (filled < count) {
          const { bytesRead } = await handle.read(buffer, filled, count - filled, offset + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return new Uint8Array(buffer.buffer, buffer.byteOffset, filled);
      } finally {
        await handle.close();
      }
    },
  };
}

export function bytesSource(data: Uint8Array): ArtifactSource {
  return {
    size: data.byteLength,
    read: async (offset, length) => data.subarray(offset, offset + clamp(data.byteLength, offset, length)),
  };
}

/**
 * The whole artifact in memory, for handlers that parse it at once (the core handlers, until
 * they read ranges); bounded by the upload limit the artifact came in under.
 */
export function readAll(source: ArtifactSource): Promise<Uint8Array> {
  return source.read(0, source.size);
}

function clamp(size: number, offset: number, length: number): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`cannot read ${length} bytes at ${offset}`);
  }
  return Math.max(0, Math.min(length, size - offset));
}
