/**
 * A FormatHandler backed by the children of one WebAssembly plugin version.
 *
 * A capability the manifest does not declare is never called in the plugin: validation
 * passes, metadata is the generic one, there is no index, and native requests are refused
 * as `format_unavailable`. What the plugin returns is checked before anyone sees it
 * (./plugin-results.ts).
 */
import {
  GenerateIndex,
  HandleRequest,
  ParseMetadata,
  Validate,
} from '../../protocol/methods.js';
import { FormatUnavailable } from '../runtime/errors.js';
import { Stats } from '../../protocol/methods.js';
import type { PoolLimits, PoolState, ProcessInfo, VersionPool } from '../runtime/pool.js';
import { checkHttpResponse, checkIndexResult, checkMetadata } from './plugin-results.js';
import type {
  ArtifactList,
  ArtifactMetadata,
  Capabilities,
  HttpRequest,
  HttpResponse,
  IndexFile,
  PluginHandler,
  RepoContext,
} from './handler.js';

/**
 * The share of a plugin's memory limit an artifact may take: its bytes are copied into
 * linear memory once by the call, and a handler (a JavaScript one above all, whose heap lives
 * in the same memory) makes copies and structures of its own. Past it, the upload is refused
 * up front with a 413 naming the limit, instead of failing inside the plugin.
 */
export const ARTIFACT_SHARE_OF_MEMORY = 0.5;

export class WasmFormatHandler implements PluginHandler {
  readonly handlerType = 'wasm';
  readonly maxArtifactBytes: number;
  /** Uses begun (`use`) and not over, and the drain waiting for them. */
  private uses = 0;
  private readonly released: Array<() => void> = [];

  constructor(
    readonly formatKey: string,
    readonly capabilities: Capabilities,
    readonly wasmSha256: string,
    private readonly pool: VersionPool,
  ) {
    this.maxArtifactBytes = Math.floor(pool.limits.memoryMb * 1024 * 1024 * ARTIFACT_SHARE_OF_MEMORY);
  }

  get version(): string {
    return this.pool.version;
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

  processes(): Promise<ProcessInfo[]> {
    return this.pool.processes();
  }

  async memoryUsedBytes(): Promise<number | null> {
    return (await this.pool.call(Stats).catch(() => undefined))?.wasmMemoryBytes ?? null;
  }

  async validate(path: string, data: Uint8Array): Promise<void> {
    if (this.capabilities.validate_artifact) await this.pool.call(Validate, { path, data });
  }

  async parseMetadata(path: string, data: Uint8Array): Promise<ArtifactMetadata> {
    if (!this.capabilities.parse_metadata) {
      return {
        path,
        version: null,
        contentType: 'application/octet-stream',
        sizeBytes: data.byteLength,
        checksumSha256: null,
      };
    }
    return checkMetadata(this.formatKey, await this.pool.call(ParseMetadata, { path, data }));
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[] | null> {
    if (!this.capabilities.generate_index) return null;
    return checkIndexResult(this.formatKey, await this.pool.call(GenerateIndex, { artifacts }));
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
