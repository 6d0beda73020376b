/**
 * The WASI import object handed to a component at instantiation.
 *
 * stdout/stderr are decoded and passed to the host's `log` callback: they must never reach
 * `process.stdout`, which carries the RPC stream. There are no environment variables, no
 * arguments, no working directory, no terminal, no preopened directories (so the filesystem
 * types exist but no descriptor can ever be obtained), and no sockets or HTTP at all.
 * Clocks and randomness are real.
 *
 * Build a fresh one for every instantiation: jco attaches handle bookkeeping to the
 * resource objects it is given.
 */
import { randomBytes } from 'node:crypto';
import { LineCutter, type GuestStream } from '../../protocol/log-lines.js';
import type { ProvidedWasiInterface } from './interfaces.js';
import { InputStream, IoError, OutputStream, Pollable, poll } from './io.js';

export type PluginLog = (stream: GuestStream, text: string) => void;

/** Thrown when the guest calls `wasi:cli/exit`; it reaches the caller as a trap. */
class GuestExit extends Error {
  override name = 'GuestExit';
}

/** Resources a guest may be handed by the filesystem and terminal interfaces, but never is. */
class Descriptor {}
class DirectoryEntryStream {}
class TerminalInput {}
class TerminalOutput {}

export interface Wasi {
  /** The import object, keyed by unversioned interface name (see ./interfaces.ts). */
  imports: Record<ProvidedWasiInterface, Record<string, unknown>>;
  /** Passes on text still waiting for its end of line; call it when a guest call ends. */
  flush(): void;
}

export function createWasi(log: PluginLog): Wasi {
  const stdout = new LineBuffer('stdout', log);
  const stderr = new LineBuffer('stderr', log);
  const clockStart = process.hrtime.bigint();
  const monotonicNow = () => process.hrtime.bigint() - clockStart;

  const imports: Wasi['imports'] = {
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },

    'wasi:cli/environment': {
      getEnvironment: (): Array<[string, string]> => [],
      getArguments: (): string[] => [],
      initialCwd: (): string | undefined => undefined,
    },
    'wasi:cli/exit': {
      exit(status: { tag: 'ok' | 'err' }): never {
        throw new GuestExit(`the plugin called wasi:cli/exit with status ${status.tag}`);
      },
    },
    // Each call hands out a new object: jco treats the return value as a new owned handle.
    'wasi:cli/stdin': { getStdin: () => new InputStream() },
    'wasi:cli/stdout': { getStdout: () => new OutputStream((bytes) => stdout.write(bytes)) },
    'wasi:cli/stderr': { getStderr: () => new OutputStream((bytes) => stderr.write(bytes)) },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: (): TerminalInput | undefined => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: (): TerminalOutput | undefined => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: (): TerminalOutput | undefined => undefined },

    'wasi:clocks/monotonic-clock': {
      now: monotonicNow,
      resolution: () => 1n,
      subscribeInstant: (whenNs: bigint) => new Pollable(clockStart + whenNs),
      subscribeDuration: (durationNs: bigint) => new Pollable(process.hrtime.bigint() + durationNs),
    },
    'wasi:clocks/wall-clock': {
      now: () => {
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }),
    },

    'wasi:random/random': {
      getRandomBytes: (length: bigint) => new Uint8Array(randomBytes(Number(length))),
      getRandomU64: () => randomBytes(8).readBigUInt64LE(),
    },
    'wasi:random/insecure': {
      getInsecureRandomBytes: (length: bigint) => new Uint8Array(randomBytes(Number(length))),
      getInsecureRandomU64: () => randomBytes(8).readBigUInt64LE(),
    },
    'wasi:random/insecure-seed': {
      insecureSeed: (): [bigint, bigint] => {
        const seed = randomBytes(16);
        return [seed.readBigUInt64LE(0), seed.readBigUInt64LE(8)];
      },
    },

    'wasi:filesystem/types': {
      Descriptor,
      DirectoryEntryStream,
      // Only errors from filesystem streams carry a filesystem error code, and none exist here.
      filesystemErrorCode: (_error: IoError): undefined => undefined,
    },
    'wasi:filesystem/preopens': { getDirectories: (): Array<[Descriptor, string]> => [] },
  };
  return {
    imports,
    flush: () => {
      stdout.flush();
      stderr.flush();
    },
  };
}

/**
 * Hands a guest stream to the log a line at a time, each cut at 8 KiB (protocol/log-lines.ts):
 * guests write a message and its newline separately (console.log in componentize-js does),
 * and the log should not see them as two entries; a guest printing megabytes without a
 * newline costs one line's worth of memory.
 */
class LineBuffer {
  private readonly cutter: LineCutter;

  constructor(stream: GuestStream, log: PluginLog) {
    this.cutter = new LineCutter((line) => log(stream, `${line}\n`));
  }

  write(bytes: Uint8Array): void {
    this.cutter.write(bytes);
  }

  flush(): void {
    this.cutter.flush();
  }
}
