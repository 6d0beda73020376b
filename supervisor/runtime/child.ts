/**
 * One plugin child process: spawn, readiness, calls with deadlines, liveness, limits, exit.
 *
 * The child runs calls one after another (a WebAssembly call blocks its event loop), so the
 * oldest unfinished call is the one executing. Its deadline starts when it reaches the head
 * of the line, not when it was sent: a call queued behind a slow one is not charged for it.
 * When the deadline passes the child is SIGKILLed (a busy guest loop cannot be interrupted
 * politely); the head call fails with `plugin_timeout` and the calls queued behind it fail
 * with `ChildLost`, which the pool retries on a fresh child.
 *
 * Liveness is separate from long calls: the host acknowledges each request as soon as it
 * reads it. A child that leaves requests unacknowledged for `ackTimeoutMs` while it is not
 * running any call is unresponsive, and is replaced.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import {
  createMessageConnection,
  ResponseError,
  type MessageConnection,
  type RequestType,
  type RequestType0,
} from 'vscode-jsonrpc/node';
import { BinaryMessageReader, BinaryMessageWriter } from '../../protocol/framing.js';
import { forwardLines } from '../../protocol/log-lines.js';
import { Ack, PluginErrorCode, Ready, Stats, type ReadyResult } from '../../protocol/methods.js';
import { ArtifactInvalid, FormatUnavailable, PluginCrashed, PluginFailure, PluginMemoryExceeded, PluginTimeout } from './errors.js';
import type { ResourceMonitor, ResourceSample } from './monitor.js';
import type { Sandbox } from './sandbox.js';
import { describeError } from '../../protocol/error-text.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * The plugin host, compiled and bundled into one file (scripts/bundle-host.mjs): children
 * start from plain JS, never through a TS loader, and load one file rather than dozens.
 */
export const hostEntry = path.resolve(here, '../../plugin-host/bundle.js');
/**
 * What a child may read: the host bundle's folder (compiled host code, nothing else) and the
 * component's transpiled folder. Not the package root: the default DATA_DIR sits below it
 * (the database, the admin token, every plugin's files).
 */
export function childReadablePaths(entry: string): string[] {
  return [path.dirname(hostEntry), path.dirname(entry)];
}

export interface ChildLimits {
  memoryMb: number;
  timeoutMs: number;
}

export interface ChildOptions {
  /** The transpiled component's entry module (plugin.js in the transpile cache). */
  entry: string;
  /** Working directory: the plugin version's own folder. */
  cwd: string;
  limits: ChildLimits;
  sandbox: Sandbox;
  monitor: ResourceMonitor;
  /** RSS allowed above `memoryMb` for Node itself and copies of call data (MB). */
  hostAllowanceMb: number;
  /** How long requests may stay unacknowledged by an idle child. */
  ackTimeoutMs: number;
  /** How long spawn-to-ready may take. */
  startTimeoutMs: number;
  /** The staging folder whose files calls name (read-only, and nothing else of the data directory). */
  artifactDir: string | null;
  /** Told of every call a client made (not the supervisor's own stats and readiness calls): method, outcome, duration. */
  onCall?: (method: string, outcome: string, seconds: number) => void;
  /** Lines the child (host or guest) wrote to stderr, each at most 8 KiB and a marker (protocol/log-lines.ts), with its pid. */
  log: (line: string, pid: number | undefined) => void;
}

export const CHILD_STATES = ['starting', 'ready', 'draining', 'stopped'] as const;
export type ChildState = (typeof CHILD_STATES)[number];

/** Why a child ended: `stopped` is the only orderly one. */
export const EXIT_REASONS = ['stopped', 'timeout', 'memory', 'unresponsive', 'crashed', 'start_failed'] as const;
export type ExitReason = (typeof EXIT_REASONS)[number];

export interface ChildExit {
  code: number | null;
  signal: string | null;
  reason: ExitReason;
  /** A sentence for the operator: what happened and, for limits, which limit. */
  message: string;
  /** When the process ended (RFC 3339). */
  at: string;
  /** The last lines the process wrote (host and guest), oldest first: what it said before it died. */
  stderrTail: string[];
  /**
   * Whether the process ended while it had a call to answer. A client's input can cause any
   * such death (a bomb, a loop, a host-side allocation), so it never counts toward quarantine.
   * An unresponsive child had nothing acknowledged, so nothing was running: it does count; so
   * does a death while only the supervisor's own stats request was pending.
   */
  duringCall: boolean;
}

/** A process's end as the API shows it (`last_exit`, and the details of crash, restart and quarantine events). */
export interface LastExit {
  code: number | null;
  signal: string | null;
  reason: ExitReason;
  message: string;
  at: string;
  stderr_tail: string[];
}

export function lastExit(exit: ChildExit): LastExit {
  return { code: exit.code, signal: exit.signal, reason: exit.reason, message: exit.message, at: exit.at, stderr_tail: exit.stderrTail };
}

/** The child did not become ready; `exit` says how it ended. */
export class ChildStartFailed extends PluginCrashed {
  constructor(message: string, readonly exit: ChildExit) {
    super(message);
  }
}

/** A call that never ran to completion because its child went away; safe to retry elsewhere. */
export class ChildLost extends Error {}

/** How many of a child's last lines an exit keeps, each cut to `TAIL_LINE_CHARS`. */
export const STDERR_TAIL_LINES = 10;
const TAIL_LINE_CHARS = 1024;

type AnyRequestType = RequestType<any, any, any> | RequestType0<any, any>;

interface PendingCall {
  method: string;
  sentAt: number;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export interface ChildEvents {
  /** The guest trapped inside a call (the host re-instantiates; the process lives on). */
  trap: [message: string];
  /** The guest hit its memory cap inside a call (the host re-instantiates; the process lives on). */
  memory: [message: string];
  exit: [exit: ChildExit];
}

export class PluginChild extends EventEmitter<ChildEvents> {
  state: ChildState = 'starting';
  readonly startedAt = new Date();
  readonly exited: Promise<ChildExit>;
  ready: ReadyResult | undefined;

  callsTotal = 0;
  errorsTotal = 0;
  lastSample: ResourceSample | undefined;

  private readonly process: ResultPromise;
  private readonly connection: MessageConnection;
  private readonly calls: PendingCall[] = [];
  /** Send times of requests not yet acknowledged, oldest first (acks arrive in send order). */
  private readonly unackedSentAt: number[] = [];
  private lastHeardAt = Date.now();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly livenessTimer: NodeJS.Timeout;
  /** Set when we decide to kill the child, so its exit is reported with the right reason. */
  private killReason: { reason: ExitReason; message: string } | undefined;
  /** The child's last lines, for its exit's `stderrTail`. */
  private readonly tail: string[] = [];

  private constructor(private readonly options: ChildOptions) {
    super();
    const memoryLimitBytes = options.limits.memoryMb * 1024 * 1024;
    const command = options.sandbox.command({
      hostEntry,
      hostArgs: ['--entry', options.entry, '--memory-bytes', String(memoryLimitBytes)],
      readablePaths: [...childReadablePaths(options.entry), ...(options.artifactDir ? [options.artifactDir] : [])],
      maxOldSpaceMb: 64 + options.limits.memoryMb,
    });
    this.process = execa(command.file, command.args, {
      env: command.env,
      extendEnv: false,
      cwd: options.cwd,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      encoding: 'buffer',
      reject: false,
      cleanup: true,
    });
    this.connection = createMessageConnection(
      new BinaryMessageReader(this.process.stdout!),
      new BinaryMessageWriter(this.process.stdin!),
      undefined,
      // Any bound makes the connection settle responses as they are read, all of one read
      // in the same turn, instead of one per event-loop turn (the child sends us no requests).
      { maxParallelism: 1 },
    );
    this.connection.onNotification(Ack, ({ ids }) => {
      this.lastHeardAt = Date.now();
      this.unackedSentAt.splice(0, ids.length);
    });
    // A closed or broken pipe shows up as the process exiting; nothing more to do here.
    this.connection.onError(() => undefined);
    this.connection.listen();
    forwardLines(this.process.stderr!, (line) => {
      this.tail.push(line.length > TAIL_LINE_CHARS ? line.slice(0, TAIL_LINE_CHARS) : line);
      if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift();
      options.log(line, this.process.pid);
    });
    // Sampled from spawn, not from readiness: loading a component can take all the memory too.
    if (this.process.pid !== undefined) options.monitor.watch(this.process.pid, (sample) => this.onSample(sample));

    this.livenessTimer = setInterval(() => this.checkLiveness(), Math.min(250, options.ackTimeoutMs));
    this.exited = this.process.then((result) => this.onExit(result.exitCode ?? null, result.signal ?? null));
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get inFlight(): number {
    return this.calls.length;
  }

  /** Spawns a child and resolves once its component is loaded and answering. */
  static async start(options: ChildOptions): Promise<PluginChild> {
    const child = new PluginChild(options);
    try {
      child.ready = await child.call(Ready, undefined, options.startTimeoutMs);
    } catch (error) {
      const message = describeError(error);
      child.kill('start_failed', `the plugin process failed to start: ${message}`);
      throw new ChildStartFailed(`the plugin process failed to start: ${message}`, await child.exited);
    }
    child.state = 'ready';
    return child;
  }

  /** Sends one request; `timeoutMs` is counted from the moment the call starts executing. */
  call<R>(type: RequestType0<R, any>, params: undefined, timeoutMs?: number): Promise<R>;
  call<P, R>(type: RequestType<P, R, any>, params: P, timeoutMs?: number): Promise<R>;
  call(type: AnyRequestType, params: unknown, timeoutMs = this.options.limits.timeoutMs): Promise<unknown> {
    if (this.state === 'stopped') return Promise.reject(new ChildLost('the plugin process has exited'));
    return new Promise((resolve, reject) => {
      const pending: PendingCall = { method: type.method, sentAt: performance.now(), timeoutMs, resolve, reject };
      this.calls.push(pending);
      this.unackedSentAt.push(Date.now());
      if (this.calls.length === 1) this.startHead();
      const sent = params === undefined
        ? this.connection.sendRequest(type as RequestType0<unknown, unknown>)
        : this.connection.sendRequest(type as RequestType<unknown, unknown, unknown>, params);
      sent.then(
        (result) => this.settle(pending, undefined, () => resolve(result)),
        (error) => {
          const failure = this.toFailure(error, pending);
          this.settle(pending, failure, () => reject(failure));
        },
      );
    });
  }

  /** Stops admitting calls, lets the ones in flight finish (up to `graceMs`), then ends the child. */
  async stop(graceMs: number): Promise<ChildExit> {
    if (this.state === 'stopped') return this.exited;
    this.state = 'draining';
    const idle = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (this.calls.length === 0) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
      setTimeout(() => {
        clearInterval(poll);
        resolve();
      }, graceMs).unref();
    });
    await idle;
    this.killReason ??= { reason: 'stopped', message: 'stopped by the supervisor' };
    // Closing stdin asks the host to exit; SIGKILL if it has not within a second.
    this.process.stdin?.end();
    const forced = setTimeout(() => this.process.kill('SIGKILL'), 1000);
    const exit = await this.exited;
    clearTimeout(forced);
    return exit;
  }

  /** Ends the child at once; calls in flight fail (the head one with the reason's error). */
  kill(reason: ExitReason, message: string): void {
    if (this.state === 'stopped' || this.killReason) return;
    this.killReason = { reason, message };
    this.process.kill('SIGKILL');
  }

  private startHead(): void {
    const head = this.calls[0];
    if (!head) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      this.kill('timeout', `a ${head.method} call ran past the time limit of ${head.timeoutMs} ms`);
    }, head.timeoutMs);
  }

  private settle(pending: PendingCall, failure: Error | undefined, complete: () => void): void {
    const index = this.calls.indexOf(pending);
    if (index === -1) return; // already failed by the child's exit
    this.lastHeardAt = Date.now();
    this.calls.splice(index, 1);
    if (isClientCall(pending)) this.callsTotal++;
    this.reportCall(pending, failure);
    if (index === 0) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      this.startHead();
    }
    complete();
  }

  private toFailure(error: unknown, pending: PendingCall): Error {
    if (isClientCall(pending)) this.errorsTotal++;
    if (!(error instanceof ResponseError)) {
      return new ChildLost(describeError(error));
    }
    switch (error.code) {
      case PluginErrorCode.GuestError:
        return new ArtifactInvalid(error.message);
      case PluginErrorCode.MemoryLimit:
        this.emit('memory', error.message);
        return new PluginMemoryExceeded(this.options.limits.memoryMb, error.message);
      case PluginErrorCode.NotSupported:
        return new FormatUnavailable(error.message);
      case PluginErrorCode.GuestTrap:
        this.emit('trap', error.message);
        return new PluginCrashed(`the plugin trapped: ${error.message}`);
      default:
        return new PluginCrashed(error.message);
    }
  }

  private checkLiveness(): void {
    if (this.state !== 'ready' && this.state !== 'draining') return;
    const oldestUnacked = this.unackedSentAt[0];
    // An acknowledged call still running means the child is busy, not hung: its deadline rules.
    const busy = this.calls.length > this.unackedSentAt.length;
    if (oldestUnacked === undefined || busy) return;
    const silentFor = Date.now() - Math.max(oldestUnacked, this.lastHeardAt);
    if (silentFor > this.options.ackTimeoutMs) {
      this.kill('unresponsive', `the plugin process acknowledged no request for ${silentFor} ms`);
    }
  }

  private onSample(sample: ResourceSample): void {
    this.lastSample = sample;
    const limitMb = this.options.limits.memoryMb + this.options.hostAllowanceMb;
    if (sample.rssBytes > limitMb * 1024 * 1024) {
      const rssMb = Math.round(sample.rssBytes / (1024 * 1024));
      this.kill(
        'memory',
        `the plugin process used ${rssMb} MB, over its memory limit of ${this.options.limits.memoryMb} MB plus the host allowance of ${this.options.hostAllowanceMb} MB`,
      );
    }
  }

  private onExit(code: number | null, signal: string | null): ChildExit {
    this.state = 'stopped';
    clearInterval(this.livenessTimer);
    clearTimeout(this.deadlineTimer);
    if (this.process.pid !== undefined) this.options.monitor.unwatch(this.process.pid);
    this.connection.dispose();
    const [head, ...queued] = this.calls.splice(0);
    const killed = this.killReason ?? {
      reason: 'crashed' as const,
      message: `the plugin process exited unexpectedly (code ${code}, signal ${signal})`,
    };
    const clientCall = [head, ...queued].some((call) => call !== undefined && isClientCall(call));
    const duringCall = clientCall && killed.reason !== 'unresponsive' && killed.reason !== 'start_failed';
    const exit: ChildExit = { code, signal, ...killed, duringCall, at: new Date().toISOString(), stderrTail: [...this.tail] };
    if (head) {
      const failure = this.headFailure(exit, head);
      this.reportCall(head, failure);
      head.reject(failure);
    }
    for (const call of queued) call.reject(new ChildLost(exit.message));
    this.emit('exit', exit);
    return exit;
  }

  /** Tells `onCall` how a client's call ended: `ok`, its failure code, or `lost` (to be retried elsewhere). */
  private reportCall(call: PendingCall, failure: Error | undefined): void {
    if (!isClientCall(call)) return;
    const outcome = failure === undefined ? 'ok' : failure instanceof PluginFailure ? failure.code : 'lost';
    this.options.onCall?.(call.method, outcome, (performance.now() - call.sentAt) / 1000);
  }

  /** The error for the call that was executing when the child ended. */
  private headFailure(exit: ChildExit, head: PendingCall): Error {
    switch (exit.reason) {
      case 'timeout':
        return new PluginTimeout(head.timeoutMs);
      case 'memory':
        return new PluginMemoryExceeded(this.options.limits.memoryMb, exit.message);
      // Unresponsive means nothing was acknowledged, so nothing ran: safe to retry.
      case 'stopped':
      case 'unresponsive':
        return new ChildLost(exit.message);
      default:
        return new PluginCrashed(exit.message);
    }
  }
}

/**
 * A call made for a client, as opposed to the supervisor's own stats and readiness calls:
 * those run no handler and carry no client input, so they count neither as calls nor toward
 * the in-call rule.
 */
function isClientCall(call: PendingCall): boolean {
  return call.method !== Stats.method && call.method !== Ready.method;
}
