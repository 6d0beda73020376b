/**
 * The process runtime's front door: supervisor-wide settings (sandbox, resource monitor,
 * timings) and the two steps every plugin version goes through: `prepare` (check and
 * transpile the component once, cached by SHA-256) and `startVersion` (its children).
 */
import { componentToolchain, removeFromCache, transpileToCache, type Toolchain } from './component.js';
import { ResourceMonitor } from './monitor.js';
import { VersionPool, type PoolLimits, type PoolOptions, type RuntimeEvent, type RuntimeSettings } from './pool.js';
import { Sandbox } from './sandbox.js';

export interface RuntimeConfig {
  /** Where transpiled components are cached, one folder per SHA-256. */
  cacheDir: string;
  /** RSS allowed above a plugin's memory limit for Node and call data. Default 192 MB. */
  hostAllowanceMb?: number;
  /** Unacknowledged requests on an idle child for this long mean it is hung. Default 3 s. */
  ackTimeoutMs?: number;
  /** Spawn to ready. Default 15 s (a large JS component compiles for a while). */
  startTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  quarantine?: { maxCrashes: number; windowMs: number };
  /** Cut children off the network with a namespace when the machine allows. Default true. */
  networkIsolation?: boolean;
  monitorIntervalMs?: number;
  /**
   * The blob store's staging folder: a call names an uploaded artifact's staged file there and
   * the child opens it read-only (the sandbox grants this folder and no other part of DATA_DIR).
   */
  artifactDir?: string;
}

export interface PreparedComponent {
  sha256: string;
  /** The transpiled entry module the plugin host imports. */
  entry: string;
  /** This preparation wrote the cache entry (nothing was running from it before). */
  transpiled: boolean;
  toolchain: Toolchain;
}

export interface VersionSpec {
  version: string;
  component: PreparedComponent;
  /** The plugin version's own folder: the child's working directory. */
  cwd: string;
  limits: PoolLimits;
  expectedFormatKey?: string;
  onEvent?: (event: RuntimeEvent) => void;
  log?: PoolOptions['log'];
  onCall?: PoolOptions['onCall'];
}

export class PluginRuntime {
  readonly settings: RuntimeSettings;

  constructor(private readonly config: RuntimeConfig) {
    this.settings = {
      sandbox: Sandbox.detect({ networkIsolation: config.networkIsolation }),
      monitor: new ResourceMonitor(config.monitorIntervalMs),
      hostAllowanceMb: config.hostAllowanceMb ?? 192,
      ackTimeoutMs: config.ackTimeoutMs ?? 3000,
      startTimeoutMs: config.startTimeoutMs ?? 15_000,
      backoff: config.backoff ?? { initialMs: 100, maxMs: 15_000 },
      quarantine: config.quarantine ?? { maxCrashes: 5, windowMs: 5 * 60_000 },
      artifactDir: config.artifactDir ?? null,
    };
  }

  /** Refuses (ComponentRefused) a component over the limits of component.ts; caches nothing then. */
  async prepare(wasm: Uint8Array): Promise<PreparedComponent> {
    const { sha256, entry, transpiled } = await transpileToCache(wasm, this.config.cacheDir);
    return { sha256, entry, transpiled, toolchain: componentToolchain(wasm) };
  }

  /**
   * Starts a version's children. If they fail to start from a cache entry this preparation
   * wrote, the entry goes too: a failed install leaves nothing in the cache.
   */
  async startVersion(spec: VersionSpec): Promise<VersionPool> {
    try {
      return await this.startPool(spec);
    } catch (error) {
      if (spec.component.transpiled) await removeFromCache(spec.component.sha256, this.config.cacheDir);
      throw error;
    }
  }

  private startPool(spec: VersionSpec): Promise<VersionPool> {
    return VersionPool.start({
      version: spec.version,
      entry: spec.component.entry,
      toolchain: spec.component.toolchain,
      cwd: spec.cwd,
      limits: spec.limits,
      expectedFormatKey: spec.expectedFormatKey,
      settings: this.settings,
      onEvent: spec.onEvent,
      log: spec.log,
      onCall: spec.onCall,
    });
  }
}
