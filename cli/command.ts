/**
 * What every `plugin-keeper` command shares: where it writes, and the two ways it fails on
 * purpose. The dispatcher (main.ts) turns each into an exit status and a message.
 */

/** A mistake in the command line: the message and the usage are shown, exit status 2. */
export class UsageError extends Error {}

/**
 * The command could not do its job for a reason the user can act on (a folder already
 * exists, a package does not validate, the server said no...): the message alone is shown,
 * exit status 1. `details` are printed one per line under it (every problem of a package,
 * say). `exitStatus` 2 is for a service that cannot be reached: like a usage mistake, the
 * request never got an answer.
 */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
    readonly exitStatus: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** Where a command writes: `out` for what scripts capture, `err` for what people read. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** One `plugin-keeper <name> ...` command, as the dispatcher (main.ts) sees it. */
export interface Command {
  name: string;
  /** One line in `plugin-keeper --help`. */
  summary: string;
  /** The command's own `--help`: how to call it and what each option does. */
  usage: string;
  /** Resolves to the process exit status. */
  run(args: string[], output: Output): Promise<number>;
}
