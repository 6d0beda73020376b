/**
 * Log lines of bounded length, at both ends of a plugin's output: the plugin host cuts what
 * the guest prints, and the supervisor cuts what the host writes to stderr again (a host
 * bug, or a guest output path that misses the first cut, must not grow one string in the
 * supervisor). A line longer than the limit is passed on as its first `MAX_LOG_LINE_BYTES`
 * bytes and the marker, and the rest of it, up to the next newline, is dropped as it
 * arrives: memory per stream stays at one line's limit, however much comes without a newline.
 */

/** The longest line passed on, in bytes, without the marker. */
export const MAX_LOG_LINE_BYTES = 8 * 1024;

/** Ends a line that was cut. */
export const LINE_CUT_MARKER = ` [line cut at ${MAX_LOG_LINE_BYTES} bytes]`;

const NEWLINE = 0x0a;

export class LineCutter {
  private kept: Buffer[] = [];
  private keptBytes = 0;
  /** The current line was already passed on cut: drop the rest of it. */
  private discarding = false;

  /** `emit` gets each line without its newline (cut ones end with the marker). */
  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxBytes = MAX_LOG_LINE_BYTES,
  ) {}

  write(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      this.take(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  }

  /** Passes on the unfinished line, if any: the stream ended, or the guest call did. */
  flush(): void {
    if (this.keptBytes > 0) this.endLine();
    this.discarding = false;
  }

  private take(bytes: Uint8Array): void {
    if (this.discarding || bytes.length === 0) return;
    const room = this.maxBytes - this.keptBytes;
    // A copy: the caller's bytes may be a view of memory that changes (a guest's).
    this.kept.push(Buffer.from(bytes.subarray(0, room)));
    this.keptBytes += Math.min(bytes.length, room);
    if (bytes.length > room) {
      this.emit(this.takeLine() + LINE_CUT_MARKER);
      this.discarding = true;
    }
  }

  private endLine(): void {
    if (!this.discarding) this.emit(this.takeLine());
    this.discarding = false;
  }

  private takeLine(): string {
    const line = Buffer.concat(this.kept, this.keptBytes).toString('utf8');
    this.kept = [];
    this.keptBytes = 0;
    return line;
  }
}

/** Forwards a stream's lines (the child's stderr: host and guest logs), each cut to the limit. */
export function forwardLines(stream: NodeJS.ReadableStream, log: (line: string) => void): void {
  const cutter = new LineCutter((line) => {
    if (line) log(line);
  });
  stream.on('data', (chunk: Buffer) => cutter.write(chunk));
  stream.on('end', () => cutter.flush());
}

/** The streams a guest writes. */
export const GUEST_STREAMS = ['stdout', 'stderr'] as const;
export type GuestStream = (typeof GUEST_STREAMS)[number];
/** Where a plugin child's line came from: the guest's stdout or stderr, or the host itself. */
export const LOG_STREAMS = [...GUEST_STREAMS, 'host'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

/** The host writes a guest's line to its stderr as `<prefix><text>`; any other line is the host's own. */
export const guestLinePrefix = (stream: GuestStream): string => `[plugin ${stream}] `;

const GUEST_PREFIXES = GUEST_STREAMS.map((stream) => [stream, guestLinePrefix(stream)] as const);

/** Splits a line of the child's stderr into its stream and text (the supervisor's side of the prefix). */
export function classifyLine(line: string): { stream: LogStream; text: string } {
  for (const [stream, prefix] of GUEST_PREFIXES) if (line.startsWith(prefix)) return { stream, text: line.slice(prefix.length) };
  return { stream: 'host', text: line };
}
