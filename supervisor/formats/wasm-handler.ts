/**
 * A FormatHandler backed by the children of one WebAssembly plugin version.
 *
 * A capability the manifest does not declare is never called in the plugin: validation
 * passes, metadata is the generic one, there is no index, and native requests are refused
 * as `format_unavailable`. What the plugin returns is checked before anyone sees it
 * (./plugin-results.ts).
 */
import {
  type ArtifactParams,
  GenerateIndex,
  HandleRequest,
  ParseMetadata,
  Validate,
} from '../../protocol/methods.js';
import type { Toolchain } from '../runtime/component.js';
import { FormatUnavailable } from './errors.js';
import { Stats } from '../../protocol/methods.js';
import type { PoolLimits, PoolState, ProcessInfo, VersionPool } from '../runtime/pool.js';
import { checkHttpResponse, checkIndexResult, checkMetadata } from './plugin-results.js';
import type { CapabilitySet } from '../store/store.js';
import { readAll } from './artifact-source.js';
import type {
  ArtifactList,
  ArtifactMetadata,
  ArtifactSource,
  InterfaceVersion,
  HttpRequest,
  HttpResponse,
  IndexFile,
  PluginHandler,
  RepoContext,
} from './handler.js';

/**
 * What a 1.0.0 plugin's linear memory must hold for an artifact, by toolchain: the bytes are
 * copied into linear memory by each call, and the handler makes copies of its own. Measured
 * (docs/plugin-guide.md, "Limits"): a WAT handler peaks at the artifact's size plus 64 KiB;
 * a componentize-js (TypeScript) one at 9 MiB plus 5 to 7 times the artifact across validate
 * and parse-metadata (its heap lives in the same memory and keeps the copies). Past the
 * largest artifact that fits, the upload is refused up front with a 413 that says what the
 * plugin would need, instead of failing inside it. A 1.1.0 plugin reads the ranges it needs:
 * only the server's upload limit (ARTIFACTS_MAX_MB) applies.
 */
export const ARTIFACT_MEMORY_NEEDS: Record<Toolchain, { fixedBytes: number; perArtifactByte: number }> = {
  'componentize-js': { fixedBytes: 10 * 1024 * 1024, perArtifactByte: 7 },
  // Room for one working copy beside the handed-over bytes: C, Rust, WAT handlers.
  other: { fixedBytes: 0, perArtifactByte: 2 },
};

/** The largest artifact a 1.0.0 plugin of `toolchain` with `memoryMb` can be given. */
export function maxArtifactBytesFor(toolchain: Toolchain, memoryMb: number): number {
  const needs = ARTIFACT_MEMORY_NEEDS[toolchain];
  return Math.max(0, Math.floor((memoryMb * 1024 * 1024 - needs.fixedBytes) / needs.perArtifactByte));
}

export class WasmFormatHandler implements PluginHandler {
  readonly handlerType = 'wasm';
  readonly maxArtifactBytes: number | null;
  readonly maxArtifactReason: string | null;
  /** Uses begun (`use`) and not over, and the drain waiting for them. */
  private uses = 0;
  private readonly released: Array<() => void> = [];

  constructor(
    readonly formatKey: string,
    readonly capabilities: CapabilitySet,
    readonly wasmSha256: string,
    private readonly pool: VersionPool,
  ) {
    const { memoryMb } = pool.limits;
    if (pool.interfaceVersion === '1.1.0') {
      this.maxArtifactBytes = null;
      this.maxArtifactReason = null;
    } else {
      this.maxArtifactBytes = maxArtifactBytesFor(pool.toolchain, memoryMb);
      const needs = ARTIFACT_MEMORY_NEEDS[pool.toolchain];
      const rule =
        pool.toolchain === 'componentize-js'
          ? `a componentize-js plugin of interface 1.0.0 needs about ${needs.fixedBytes / 1048576} MiB plus ${needs.perArtifactByte} times the artifact's size (measured)`
          : `a plugin of interface 1.0.0 is handed the artifact whole and needs room for a working copy: ${needs.perArtifactByte} times its size`;
      this.maxArtifactReason =
        `the ${formatKey} plugin's memory limit of ${memoryMb} MB allows artifacts up to ${this.maxArtifactBytes} bytes: ${rule}; ` +
        `raise its max_memory_mb, or build it for the 1.1.0 interface (format-plugin-v3), which reads ranges and takes artifacts up to ARTIFACTS_MAX_MB`;
    }
  }

  get version(): string {
    return this.pool.version;
  }

  get parserId(): string {
    return `wasm:${this.wasmSha256}`;
  }

  get toolchain(): Toolchain {
    return this.pool.toolchain;
  }

  get interfaceVersion(): InterfaceVersion {
    return this.pool.interfaceVersion;
  }

  get limits(): PoolLimits {
    return this.pool.limits;
  }

  state(): PoolState {
    return this.pool.state;
  }

  quarantineReason(): string | undefined {
    return this.pool.quarantineReason;
  }

  pids(): number[] {
    return this.pool.pids();
  }

  restarts(): number {
    return this.pool.restarts;
  }

  usage(): { rssBytes: number; wasmMemoryBytes: number } {
    return this.pool.usage();
  }

  processes(): Promise<ProcessInfo[]> {
    return this.pool.processes();
  }

  async memoryUsedBytes(): Promise<number | null> {
    return (await this.pool.call(Stats).catch(() => undefined))?.wasmMemoryBytes ?? null;
  }

  async validate(path: string, artifact: ArtifactSource): Promise<void> {
    if (this.capabilities.validate_artifact) await this.pool.call(Validate, await artifactParams(path, artifact));
  }

  async parseMetadata(path: string, artifact: ArtifactSource): Promise<ArtifactMetadata> {
    if (!this.capabilities.parse_metadata) {
      return {
        path,
        version: null,
        contentType: 'application/octet-stream',
        sizeBytes: artifact.size,
        checksumSha256: null,
      };
    }
    return checkMetadata(this.formatKey, await this.pool.call(ParseMetadata, await artifactParams(path, artifact)));
  }

  async generateIndex(artifacts: ArtifactMetadata[], context: RepoContext): Promise<IndexFile[] | null> {
    if (!this.capabilities.generate_index) return null;
    return checkIndexResult(this.formatKey, await this.pool.call(GenerateIndex, { artifacts, context }));
  }

  async handleRequest(request: HttpRequest, context: RepoContext, artifacts: ArtifactList): Promise<HttpResponse> {
    if (!this.capabilities.handle_request) {
      throw new FormatUnavailable(`the ${this.formatKey} plugin does not serve a native protocol`);
    }
    return checkHttpResponse(this.formatKey, await this.pool.call(HandleRequest, { request, context, artifacts }));
  }

  async use<T>(work: () => Promise<T>): Promise<T> {
    this.uses++;
    try {
      return await work();
    } finally {
      if (--this.uses === 0) this.released.splice(0).forEach((notify) => notify());
    }
  }

  async drain(): Promise<void> {
    if (this.uses > 0) {
      await new Promise<void>((resolve) => {
        this.released.push(resolve);
        // A use is a few calls, each bounded by the deadline; this only guards a use that hangs.
        setTimeout(resolve, this.pool.limits.timeoutMs * 3 + 1000).unref();
      });
    }
    await this.pool.drain();
  }
}

/** A staged file is named, never sent: the plugin host reads it itself. Bytes in memory travel as bytes. */
async function artifactParams(path: string, artifact: ArtifactSource): Promise<ArtifactParams> {
  return artifact.file !== undefined ? { path, file: artifact.file } : { path, data: await readAll(artifact) };
}
