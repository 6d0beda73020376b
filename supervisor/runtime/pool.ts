/**
 * The children of one plugin version: dispatch, retry, restart with backoff, quarantine,
 * drain.
 *
 * - Calls go to the ready child with the fewest calls in flight.
 * - A call whose child went away before running it (`ChildLost`) is retried on another one.
 * - A child that ends for any reason but a stop is replaced after an exponential backoff
 *   (100 ms doubling to 15 s), whatever the cause: a client whose requests kill children
 *   must not make the supervisor spawn without bound. The backoff only resets once a child
 *   has lived a whole maximum delay, so alternating good and bad calls keeps it up.
 * - Only failures no client can cause count toward quarantine: a process death outside a
 *   call (or an unresponsive child) and a failed start. A failure inside a call (timeout,
 *   trap, memory, a death while answering) goes to its caller and to the events, never
 *   to the count. Too many counted crashes in the window and the version is quarantined:
 *   its children stop and every call gets `format_unavailable` until someone starts a new pool.
 * - `drain()` admits nothing new, lets calls in flight finish, then stops the children:
 *   that is how a reload retires the old version without dropping a call.
 */
import type { RequestType, RequestType0 } from 'vscode-jsonrpc/node';
import { Stats, type InterfaceVersion, type StatsResult } from '../../protocol/methods.js';
import {
  ChildLost,
  ChildStartFailed,
  lastExit,
  PluginChild,
  type ChildExit,
  type ChildOptions,
  type ChildState,
  type ExitReason,
  type LastExit,
} from './child.js';
import { FormatUnavailable } from './errors.js';
import type { Toolchain } from './component.js';
import type { ResourceMonitor } from './monitor.js';
import type { Sandbox } from './sandbox.js';

export interface PoolLimits {
  memoryMb: number;
  timeoutMs: number;
  instances: number;
}

/** Settings shared by every pool of a supervisor. */
export interface RuntimeSettings {
  sandbox: Sandbox;
  monitor: ResourceMonitor;
  hostAllowanceMb: number;
  ackTimeoutMs: number;
  startTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  quarantine: { maxCrashes: number; windowMs: number };
  /** The folder of staged artifacts children may read (calls name files in it); null: none. */
  artifactDir: string | null;
}

export type RuntimeEventType = 'crashed' | 'restarted' | 'quarantined' | 'limit_exceeded';

export interface RuntimeEvent {
  type: RuntimeEventType;
  message: string;
  pid?: number;
  reason?: ExitReason | 'trap';
  /** For `crashed` and `limit_exceeded`: the failure happened inside a call, so it does not count toward quarantine. */
  inCall?: boolean;
  /** The process's end this event is about (for `restarted`: the one it replaced; for `quarantined`: the last crash). */
  exit?: LastExit;
}

export interface PoolOptions {
  /** Plugin version, shown in the process listing. */
  version: string;
  entry: string;
  cwd: string;
  limits: PoolLimits;
  /** When set, a child whose `format-key()` differs is refused. */
  expectedFormatKey?: string;
  settings: RuntimeSettings;
  /** What built the component (what its memory needs per artifact byte depend on); default `other`. */
  toolchain?: Toolchain;
  onEvent?: (event: RuntimeEvent) => void;
  log?: (line: string, pid: number | undefined) => void;
  onCall?: ChildOptions['onCall'];
}

export const POOL_STATES = ['running', 'draining', 'stopped', 'quarantined'] as const;
export type PoolState = (typeof POOL_STATES)[number];

export interface ProcessInfo {
  pid: number | null;
  version: string;
  state: ChildState;
  startedAt: Date | null;
  rssBytes: number | null;
  cpuPercent: number | null;
  wasmMemoryBytes: number | null;
  inFlight: number;
  callsTotal: number;
  errorsTotal: number;
  restarts: number;
  lastExit: LastExit | null;
}

export class PluginStartFailed extends Error {}

interface Slot {
  child: PluginChild | undefined;
  restarts: number;
  lastExit: ChildExit | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  lastStats: StatsResult | undefined;
}

const MAX_ATTEMPTS = 3;

export class VersionPool {
  state: PoolState = 'running';
  /** Why the pool was quarantined, for the plugin's `error_message`. */
  quarantineReason: string | undefined;

  private readonly slots: Slot[];
  private readonly waiters: Array<{ resolve: (child: PluginChild) => void; reject: (error: Error) => void }> = [];
  private readonly crashTimes: number[] = [];
  /** Restarts since a child last lived a whole maximum backoff delay: the backoff's exponent. */
  private consecutiveRestarts = 0;
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private reportedInterface: InterfaceVersion | undefined;

  private constructor(private readonly options: PoolOptions) {
    this.slots = Array.from({ length: options.limits.instances }, () => ({
      child: undefined,
      restarts: 0,
      lastExit: undefined,
      restartTimer: undefined,
      lastStats: undefined,
    }));
  }

  get limits(): PoolLimits {
    return this.options.limits;
  }

  get version(): string {
    return this.options.version;
  }

  get toolchain(): Toolchain {
    return this.options.toolchain ?? 'other';
  }

  /** The format-plugin interface the component targets, as its first child reported it (all run the same component). */
  get interfaceVersion(): InterfaceVersion {
    return this.reportedInterface ?? '1.0.0';
  }

  /** Starts every instance and resolves once all answer; on any failure none is left running. */
  static async start(options: PoolOptions): Promise<VersionPool> {
    const pool = new VersionPool(options);
    const started = await Promise.allSettled(pool.slots.map((slot) => pool.startSlot(slot)));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      await pool.stop();
      throw new PluginStartFailed((failure as PromiseRejectedResult).reason.message);
    }
    return pool;
  }

  call<R>(type: RequestType0<R, any>, params?: undefined): Promise<R>;
  call<P, R>(type: RequestType<P, R, any>, params: P): Promise<R>;
  async call(type: RequestType<any, any, any> | RequestType0<any, any>, params?: unknown): Promise<unknown> {
    if (this.state !== 'running') throw this.unavailable();
    this.inFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        // Picked and called in the same turn, so the next call sees this one in flight.
        const child = this.pickReady() ?? (await this.waitForChild());
        try {
          return await child.call(type as RequestType<unknown, unknown, unknown>, params);
        } catch (error) {
          if (!(error instanceof ChildLost) || attempt >= MAX_ATTEMPTS) throw error;
        }
      }
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((notify) => notify());
    }
  }

  /** Admits no new call, waits for those in flight (bounded by the time limit), stops. */
  async drain(): Promise<void> {
    if (this.state === 'running') this.state = 'draining';
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        // In-flight calls are themselves bounded by the deadline; this only guards retries.
        setTimeout(resolve, this.options.limits.timeoutMs * MAX_ATTEMPTS + 1000).unref();
      });
    }
    await this.stop();
  }

  /** Per-child figures for the processes endpoint. Busy children report their last stats. */
  async processes(): Promise<ProcessInfo[]> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const child = slot.child;
        if (child?.state !== 'ready' || child.inFlight > 0) return;
        slot.lastStats = await child.call(Stats, undefined).catch(() => slot.lastStats);
      }),
    );
    return this.slots.map((slot) => this.describe(slot));
  }

  pids(): number[] {
    return this.slots.flatMap((slot) => (slot.child?.pid !== undefined ? [slot.child.pid] : []));
  }

  /** Memory of the children as last sampled (RSS) and as their last stats said (wasm), summed. */
  usage(): { rssBytes: number; wasmMemoryBytes: number } {
    let rssBytes = 0;
    let wasmMemoryBytes = 0;
    for (const slot of this.slots) {
      rssBytes += slot.child?.lastSample?.rssBytes ?? 0;
      if (slot.child) wasmMemoryBytes += slot.lastStats?.wasmMemoryBytes ?? 0;
    }
    return { rssBytes, wasmMemoryBytes };
  }

  get restarts(): number {
    return this.slots.reduce((sum, slot) => sum + slot.restarts, 0);
  }

  private async stop(): Promise<void> {
    if (this.state !== 'quarantined') this.state = 'stopped';
    this.rejectWaiters();
    await Promise.all(
      this.slots.map(async (slot) => {
        clearTimeout(slot.restartTimer);
        await slot.child?.stop(this.options.limits.timeoutMs);
      }),
    );
  }

  private unavailable(): FormatUnavailable {
    if (this.state === 'quarantined') {
      return new FormatUnavailable(`the plugin is quarantined: ${this.quarantineReason}`);
    }
    return new FormatUnavailable(`plugin version ${this.options.version} is ${this.state}`);
  }

  /** The ready child with the fewest calls in flight. */
  private pickReady(): PluginChild | undefined {
    let best: PluginChild | undefined;
    for (const slot of this.slots) {
      const child = slot.child;
      if (child?.state === 'ready' && (!best || child.inFlight < best.inFlight)) best = child;
    }
    return best;
  }

  private waitForChild(): Promise<PluginChild> {
    if (this.state === 'stopped' || this.state === 'quarantined') return Promise.reject(this.unavailable());
    // Every child is restarting: wait for the first one back (or for quarantine).
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async startSlot(slot: Slot): Promise<void> {
    const child = await PluginChild.start(this.childOptions());
    const formatKey = child.ready?.formatKey;
    if (this.options.expectedFormatKey !== undefined && formatKey !== this.options.expectedFormatKey) {
      await child.stop(0);
      throw new PluginStartFailed(
        `format-key() returned "${formatKey}" but the manifest declares "${this.options.expectedFormatKey}"`,
      );
    }
    if (this.state === 'stopped' || this.state === 'quarantined') {
      await child.stop(0);
      return;
    }
    this.reportedInterface ??= child.ready?.interfaceVersion;
    slot.child = child;
    child.on('exit', (exit) => this.onChildExit(slot, child, exit));
    // The host re-instantiates in the same process; a trap is always inside a call.
    child.on('trap', (message) => {
      this.emit({ type: 'crashed', reason: 'trap', inCall: true, pid: child.pid, message: `the guest trapped inside a call: ${message}` });
    });
    child.on('memory', (message) => {
      this.emit({ type: 'limit_exceeded', reason: 'memory', inCall: true, pid: child.pid, message });
    });
    for (const waiter of this.waiters.splice(0)) waiter.resolve(child);
  }

  private childOptions(): ChildOptions {
    const { settings, limits } = this.options;
    return {
      entry: this.options.entry,
      cwd: this.options.cwd,
      limits: { memoryMb: limits.memoryMb, timeoutMs: limits.timeoutMs },
      sandbox: settings.sandbox,
      monitor: settings.monitor,
      hostAllowanceMb: settings.hostAllowanceMb,
      ackTimeoutMs: settings.ackTimeoutMs,
      startTimeoutMs: settings.startTimeoutMs,
      artifactDir: settings.artifactDir,
      log: this.options.log ?? (() => undefined),
      onCall: this.options.onCall,
    };
  }

  private onChildExit(slot: Slot, child: PluginChild, exit: ChildExit): void {
    if (slot.child === child) slot.child = undefined;
    // An orderly stop is not an exit worth explaining; the previous one stays shown.
    if (exit.reason !== 'stopped') slot.lastExit = exit;
    if (exit.reason === 'stopped' || this.state === 'stopped' || this.state === 'quarantined') return;

    const event = { reason: exit.reason, pid: child.pid, inCall: exit.duringCall, message: exit.message, exit: lastExit(exit) };
    if (exit.reason === 'timeout' || exit.reason === 'memory') {
      this.emit({ type: 'limit_exceeded', ...event });
    } else if (exit.duringCall) {
      this.emit({ type: 'crashed', ...event, message: `${exit.message} (inside a call; not counted toward quarantine)` });
    } else {
      this.emit({ type: 'crashed', ...event });
      if (this.recordCrash(exit.message, event.exit)) return;
    }
    if (Date.now() - child.startedAt.getTime() >= this.options.settings.backoff.maxMs) this.consecutiveRestarts = 0;
    this.scheduleRestart(slot, this.nextBackoffMs());
  }

  private scheduleRestart(slot: Slot, delayMs: number): void {
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.state === 'stopped' || this.state === 'quarantined') return;
      slot.restarts++;
      this.startSlot(slot).then(
        () => {
          const replaced = slot.lastExit && lastExit(slot.lastExit);
          if (slot.child) this.emit({ type: 'restarted', pid: slot.child.pid, message: `restarted after: ${slot.lastExit?.message}`, exit: replaced });
        },
        (error: Error) => {
          if (error instanceof ChildStartFailed) slot.lastExit = error.exit;
          const exit = error instanceof ChildStartFailed ? lastExit(error.exit) : undefined;
          this.emit({ type: 'crashed', reason: 'start_failed', inCall: false, message: error.message, exit });
          if (this.recordCrash(error.message, exit)) return;
          this.scheduleRestart(slot, this.nextBackoffMs());
        },
      );
    }, delayMs);
  }

  /** 100 ms, 200 ms, 400 ms... up to the maximum. */
  private nextBackoffMs(): number {
    this.consecutiveRestarts++;
    const { initialMs, maxMs } = this.options.settings.backoff;
    return Math.min(initialMs * 2 ** (this.consecutiveRestarts - 1), maxMs);
  }

  /** Counts a crash no client could have caused; returns true when it tipped the version into quarantine. */
  private recordCrash(message: string, exit: LastExit | undefined): boolean {
    const now = Date.now();
    const { maxCrashes, windowMs } = this.options.settings.quarantine;
    this.crashTimes.push(now);
    while (this.crashTimes.length > 0 && this.crashTimes[0]! < now - windowMs) this.crashTimes.shift();
    if (this.crashTimes.length < maxCrashes || this.state === 'quarantined') return false;
    this.state = 'quarantined';
    this.quarantineReason = `${this.crashTimes.length} crashes outside calls within ${Math.round(windowMs / 1000)} s; last: ${message}`;
    this.emit({ type: 'quarantined', message: this.quarantineReason, exit });
    void this.stop();
    return true;
  }

  private rejectWaiters(): void {
    const error = this.unavailable();
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private emit(event: RuntimeEvent): void {
    this.options.onEvent?.(event);
  }

  private describe(slot: Slot): ProcessInfo {
    const child = slot.child;
    return {
      pid: child?.pid ?? null,
      version: this.options.version,
      state: child?.state ?? 'stopped',
      startedAt: child?.startedAt ?? null,
      rssBytes: child?.lastSample?.rssBytes ?? null,
      cpuPercent: child?.lastSample?.cpuPercent ?? null,
      wasmMemoryBytes: slot.lastStats?.wasmMemoryBytes ?? null,
      inFlight: child?.inFlight ?? 0,
      callsTotal: child?.callsTotal ?? 0,
      errorsTotal: child?.errorsTotal ?? 0,
      restarts: slot.restarts,
      lastExit: slot.lastExit ? lastExit(slot.lastExit) : null,
    };
  }
}
