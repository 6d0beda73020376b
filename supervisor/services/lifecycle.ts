/**
 * Plugin lifecycle with real effects: install, enable, disable, reload, limits, uninstall,
 * and bringing active plugins back at start.
 *
 * Every mutation follows one order so that a failure at any step leaves the previous state
 * serving and nothing half-written:
 *   1. work outside the database (fetch and validate the package, check the component,
 *      transpile, start the new version's processes and wait until they answer);
 *   2. one short store transaction (rows, binary, events);
 *   3. the registry swap (new calls go to the new version), then the old version drains.
 * When step 1 or 2 fails, what step 1 made (processes, files) is undone before the error
 * reaches the caller.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Capabilities } from '../formats/handler.js';
import type { FormatRegistry } from '../formats/registry.js';
import { WasmFormatHandler } from '../formats/wasm-handler.js';
import { checkComponent } from '../runtime/component.js';
import type { RuntimeEvent, VersionPool } from '../runtime/pool.js';
import type { PluginRuntime } from '../runtime/runtime.js';
import { UniqueViolation } from '../store/errors.js';
import type {
  EventSeverity,
  EventType,
  NewEvent,
  PluginRow,
  ResourceLimits,
  Store,
  StoreOps,
} from '../store/store.js';
import type {
  InstallSource,
  InstalledPluginView,
  PluginService,
  PluginView,
  ProcessView,
  ReloadSource,
} from './contracts.js';
import { conflict, notFound, ServiceError, validationFailed } from './errors.js';
import { fetchPackage, resolveLimits, type PackageRequest, type PluginPackage } from './install/index.js';
import type { PluginFiles } from './plugin-files.js';

/** Repositories using a format: what uninstall's dependency check counts (filled by the repositories service). */
export interface DependentRepositories {
  forFormat(formatKey: string): Promise<Array<{ id: string; key: string }>>;
}

export interface LifecycleDeps {
  store: Store;
  runtime: PluginRuntime;
  registry: FormatRegistry;
  files: PluginFiles;
  config: Config;
  logger: Logger;
  dependents: DependentRepositories;
  /** Told of every runtime event (metrics), besides the event log. */
  observeRuntimeEvent?: (formatKey: string, event: RuntimeEvent) => void;
}

const MiB = 1024 * 1024;

const EVENT_SEVERITY: Record<RuntimeEvent['type'], EventSeverity> = {
  crashed: 'error',
  restarted: 'info',
  quarantined: 'error',
  limit_exceeded: 'warning',
};

export class PluginLifecycle implements PluginService {
  /** The handler serving each active plugin, by plugin id. */
  private readonly running = new Map<string, WasmFormatHandler>();

  constructor(private readonly deps: LifecycleDeps) {}

  async list(query: Parameters<PluginService['list']>[0]) {
    const { items, total } = await this.deps.store.listPlugins(query);
    return { items: items.map((row) => this.view(row)), total, page: query.page, per_page: query.per_page };
  }

  async get(id: string): Promise<PluginView> {
    return this.view(await this.requirePlugin(id));
  }

  async install(source: InstallSource): Promise<InstalledPluginView> {
    const pkg = await fetchPackage(source, this.fetchOptions());
    try {
      const { manifest } = pkg;
      const { limits, warnings: limitWarnings } = resolveLimits(
        manifest,
        this.deps.config.plugins.defaultLimits,
        this.deps.config.plugins.maxLimits,
      );
      await this.checkComponent(pkg, limits);
      await this.checkConflicts(manifest.plugin.name, manifest.format.key);

      const id = randomUUID();
      const dir = await this.deps.files.storeVersion(id, manifest.plugin.version, pkg.wasmSha256, pkg.dir);
      let handler: WasmFormatHandler | undefined;
      try {
        handler = await this.startVersion(id, manifest.plugin.version, manifest.format.key, manifest.capabilities, limits, pkg.wasm, dir);
        const row = await this.deps.store.transaction(async (tx) => {
          await tx.putBinary(pkg.wasmSha256, pkg.wasm);
          const now = new Date().toISOString();
          const inserted = await tx.insertPlugin({
            id,
            name: manifest.plugin.name,
            version: manifest.plugin.version,
            display_name: manifest.plugin.display_name,
            description: manifest.plugin.description,
            author: manifest.plugin.author,
            homepage: manifest.plugin.homepage,
            license: manifest.plugin.license,
            status: 'active',
            plugin_type: 'format_handler',
            source_type: pkg.source.type,
            source_url: pkg.source.url,
            source_ref: pkg.source.ref,
            source_path: pkg.source.path,
            resolved_commit: pkg.source.resolvedCommit,
            wasm_sha256: pkg.wasmSha256,
            format_key: manifest.format.key,
            capabilities: manifest.capabilities,
            resource_limits: limits,
            limits_override: null,
            manifest: manifest as unknown as Record<string, unknown>,
            error_message: null,
            enabled_at: now,
          });
          await tx.insertFormatHandler({
            id: randomUUID(),
            format_key: manifest.format.key,
            plugin_id: id,
            handler_type: 'wasm',
            display_name: manifest.format.display_name,
            description: manifest.format.description,
            extensions: manifest.format.extensions,
            is_enabled: true,
            priority: 0,
            capabilities: manifest.capabilities,
          });
          const details = { version: manifest.plugin.version, source_type: pkg.source.type, wasm_sha256: pkg.wasmSha256 };
          await this.record(tx, id, 'installed', `installed ${manifest.plugin.name} ${manifest.plugin.version}`, details);
          await this.record(tx, id, 'enabled', `${manifest.plugin.name} started`, { pids: handler!.pool.pids() });
          await this.record(tx, id, 'format_handler_enabled', `format ${manifest.format.key} is served by ${manifest.plugin.name}`, {});
          return inserted;
        });
        this.activate(id, handler);
        const warnings = [...pkg.warnings, ...limitWarnings];
        return {
          ...this.view(row),
          message: `plugin ${row.name} ${row.version} installed and serving format ${row.format_key}`,
          warnings,
        };
      } catch (error) {
        await handler?.drain();
        await this.deps.files.removePlugin(id);
        throw this.conflictFromUnique(error, manifest.plugin.name, manifest.format.key);
      }
    } finally {
      await pkg.cleanup();
    }
  }

  async enable(id: string): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    if (row.status === 'active' && this.running.has(id)) return this.view(row);
    const owner = this.deps.registry.get(row.format_key);
    if (owner && !(owner instanceof WasmFormatHandler && this.running.get(id) === owner)) {
      throw conflict('format_key_conflict', `format ${row.format_key} is now served by another handler`);
    }
    let handler: WasmFormatHandler;
    try {
      handler = await this.startStored(row);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.deps.store.transaction(async (tx) => {
        await tx.updatePlugin(id, { status: 'error', error_message: reason });
        await this.record(tx, id, 'error', `enable failed: ${reason}`, {}, 'error');
      });
      throw new ServiceError(422, 'plugin_start_failed', `the plugin could not be started: ${reason}`);
    }
    try {
      const updated = await this.deps.store.transaction(async (tx) => {
        const now = new Date().toISOString();
        const result = await tx.updatePlugin(id, { status: 'active', error_message: null, enabled_at: now });
        await tx.updateFormatHandler(row.format_key, { is_enabled: true });
        await this.record(tx, id, 'enabled', `${row.name} started`, { pids: handler.pool.pids() });
        await this.record(tx, id, 'format_handler_enabled', `format ${row.format_key} is served by ${row.name}`, {});
        return result!;
      });
      // Another enable may have won the race meanwhile: the version it started is replaced
      // and drained, never left running beside this one.
      const previous = this.running.get(id);
      this.activate(id, handler);
      if (previous && previous !== handler) await previous.drain();
      return this.view(updated);
    } catch (error) {
      await handler.drain();
      throw error;
    }
  }

  async disable(id: string): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    const updated = await this.deps.store.transaction(async (tx) => {
      const result = await tx.updatePlugin(id, { status: 'disabled', error_message: null });
      await tx.updateFormatHandler(row.format_key, { is_enabled: false });
      await this.record(tx, id, 'disabled', `${row.name} stopped`, {});
      await this.record(tx, id, 'format_handler_disabled', `format ${row.format_key} is no longer served`, {});
      return result!;
    });
    await this.deactivate(id, row.format_key);
    return this.view(updated);
  }

  async reload(id: string, source: ReloadSource): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    let pkg: PluginPackage;
    try {
      pkg = await fetchPackage(this.reloadRequest(row, source), this.fetchOptions());
    } catch (error) {
      await this.recordReloadFailure(row, error);
      throw error;
    }
    try {
      const { manifest } = pkg;
      const problems: string[] = [];
      if (manifest.plugin.name !== row.name) problems.push(`the new package is plugin "${manifest.plugin.name}", not "${row.name}"`);
      if (manifest.format.key !== row.format_key) {
        problems.push(`the new package serves format "${manifest.format.key}", not "${row.format_key}"`);
      }
      if (problems.length > 0) {
        throw validationFailed(
          'plugin_validation_failed',
          `the new version cannot replace this plugin: ${problems.join('; ')}`,
          problems.map((message) => ({ field: 'plugin', message })),
        );
      }
      const resolved = resolveLimits(manifest, this.deps.config.plugins.defaultLimits, this.deps.config.plugins.maxLimits);
      const limits = { ...resolved.limits, ...(row.limits_override ?? {}) };
      await this.checkComponent(pkg, limits);

      const version = manifest.plugin.version;
      const dir = await this.deps.files.storeVersion(id, version, pkg.wasmSha256, pkg.dir);
      const sameFolder = dir === this.deps.files.versionDir(id, row.version, row.wasm_sha256);
      const wasActive = row.status === 'active' && this.running.has(id);
      let handler: WasmFormatHandler | undefined;
      try {
        if (wasActive) {
          handler = await this.startVersion(id, version, row.format_key, manifest.capabilities, limits, pkg.wasm, dir);
        }
        const updated = await this.deps.store.transaction(async (tx) => {
          await tx.putBinary(pkg.wasmSha256, pkg.wasm);
          const result = await tx.updatePlugin(id, {
            version,
            display_name: manifest.plugin.display_name,
            description: manifest.plugin.description,
            author: manifest.plugin.author,
            homepage: manifest.plugin.homepage,
            license: manifest.plugin.license,
            source_ref: pkg.source.ref,
            resolved_commit: pkg.source.resolvedCommit,
            wasm_sha256: pkg.wasmSha256,
            capabilities: manifest.capabilities,
            resource_limits: limits,
            manifest: manifest as unknown as Record<string, unknown>,
          });
          await tx.updateFormatHandler(row.format_key, {
            display_name: manifest.format.display_name,
            description: manifest.format.description,
            extensions: manifest.format.extensions,
            capabilities: manifest.capabilities,
          });
          await tx.deleteBinaryIfUnused(row.wasm_sha256);
          await this.record(tx, id, 'reloaded', `reloaded ${row.name} ${row.version} → ${version}`, {
            old_version: row.version,
            new_version: version,
            wasm_sha256: pkg.wasmSha256,
          });
          return result!;
        });
        if (handler) await this.swapIn(id, handler);
        if (!sameFolder) await this.deps.files.removeVersion(id, row.version, row.wasm_sha256);
        return this.view(updated);
      } catch (error) {
        await handler?.drain();
        if (!sameFolder) await this.deps.files.removeVersion(id, version, pkg.wasmSha256);
        throw error;
      }
    } catch (error) {
      await this.recordReloadFailure(row, error);
      throw error;
    } finally {
      await pkg.cleanup();
    }
  }

  async setLimits(id: string, patch: Partial<ResourceLimits>): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    const limits = { ...row.resource_limits, ...patch };
    const override = { ...(row.limits_override ?? {}), ...patch };
    let handler: WasmFormatHandler | undefined;
    if (this.running.has(id)) {
      handler = await this.startStored({ ...row, resource_limits: limits });
    }
    try {
      // No event: the contract's event types have none for a limits change.
      const updated = await this.deps.store.updatePlugin(id, { resource_limits: limits, limits_override: override });
      if (handler) await this.swapIn(id, handler);
      return this.view(updated!);
    } catch (error) {
      await handler?.drain();
      throw error;
    }
  }

  async uninstall(id: string, options: { force: boolean }): Promise<void> {
    const row = await this.requirePlugin(id);
    const dependents = await this.deps.dependents.forFormat(row.format_key);
    if (dependents.length > 0 && !options.force) {
      throw conflict(
        'dependency_conflict',
        `${dependents.length} repositories use format ${row.format_key}; uninstall with force=true to proceed`,
        { dependent_repositories: dependents },
      );
    }
    await this.deps.store.transaction(async (tx) => {
      await tx.deleteFormatHandler(row.format_key);
      await tx.deletePlugin(id);
      await tx.deleteBinaryIfUnused(row.wasm_sha256);
      await this.record(tx, id, 'uninstalled', `uninstalled ${row.name} ${row.version}`, {
        forced: options.force,
        dependent_repositories: dependents,
      });
    });
    await this.deactivate(id, row.format_key);
    await this.deps.files.removePlugin(id);
  }

  async events(id: string, query: { severity?: EventSeverity; limit: number }) {
    const { store } = this.deps;
    if (!(await store.getPlugin(id)) && !(await store.hasEvents(id))) throw this.missing(id);
    return { items: await store.listEvents(id, query) };
  }

  async processes(id: string): Promise<{ items: ProcessView[] }> {
    await this.requirePlugin(id);
    const handler = this.running.get(id);
    if (!handler) return { items: [] };
    const processes = await handler.pool.processes();
    return {
      items: processes.map((p) => ({
        pid: p.pid,
        version: p.version,
        state: p.state,
        started_at: p.startedAt?.toISOString() ?? null,
        rss_bytes: p.rssBytes,
        cpu_percent: p.cpuPercent,
        wasm_memory_bytes: p.wasmMemoryBytes,
        in_flight: p.inFlight,
        calls_total: p.callsTotal,
        errors_total: p.errorsTotal,
        restarts: p.restarts,
        last_exit: p.lastExit,
      })),
    };
  }

  /**
   * Starts every plugin that was active when the supervisor stopped. One that fails is
   * marked `error` with its reason; it never keeps the others from starting.
   */
  async startActive(): Promise<void> {
    const active = (await this.deps.store.allPlugins()).filter((row) => row.status === 'active');
    await Promise.all(
      active.map(async (row) => {
        try {
          const handler = await this.startStored(row);
          const format = await this.deps.store.getFormatHandler(row.format_key);
          this.activate(row.id, handler, format?.is_enabled ?? false);
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          this.deps.logger.error({ plugin: row.name, err: reason }, 'plugin failed to start');
          await this.deps.store.transaction(async (tx) => {
            await tx.updatePlugin(row.id, { status: 'error', error_message: `failed to start: ${reason}` });
            await this.record(tx, row.id, 'error', `failed to start at supervisor start: ${reason}`, {}, 'error');
          });
        }
      }),
    );
  }

  /** Drains every running plugin (graceful shutdown). */
  async stopAll(): Promise<void> {
    const handlers = [...this.running.entries()];
    this.running.clear();
    await Promise.all(handlers.map(([, handler]) => {
      if (this.deps.registry.get(handler.formatKey) === handler) this.deps.registry.remove(handler.formatKey);
      return handler.drain();
    }));
  }

  /** The running handler of an active plugin (the format service enables formats with it). */
  handlerFor(pluginId: string): WasmFormatHandler | undefined {
    return this.running.get(pluginId);
  }

  /** Figures of every running plugin version, for the metrics. */
  runningPlugins(): Array<{ format: string; version: string; processes: number; restarts: number }> {
    return [...this.running.values()].map((handler) => ({
      format: handler.formatKey,
      version: handler.pool.version,
      processes: handler.pool.pids().length,
      restarts: handler.pool.restarts,
    }));
  }

  /** Counts for the health check. */
  runningCount(): number {
    return this.running.size;
  }

  private view(row: PluginRow): PluginView {
    const { manifest: _manifest, limits_override: _override, ...fields } = row;
    const pool = this.running.get(row.id)?.pool;
    return {
      ...fields,
      plugin_id: row.id,
      runtime: pool
        ? { state: pool.state, instances: row.resource_limits.instances, restarts: pool.restarts, pids: pool.pids() }
        : { state: 'not_started', instances: row.resource_limits.instances, restarts: 0, pids: [] },
    };
  }

  private async requirePlugin(id: string): Promise<PluginRow> {
    const row = await this.deps.store.getPlugin(id);
    if (!row) throw this.missing(id);
    return row;
  }

  private missing(id: string): ServiceError {
    return notFound(`no plugin with id ${id}`);
  }

  private fetchOptions() {
    const { config, files } = this.deps;
    return {
      workDir: files.workDir,
      gitAllowPrivate: config.plugins.gitAllowPrivate,
      localRoots: config.plugins.localRoots,
      requireSigned: config.plugins.requireSigned,
      trustedPublicKeys: config.plugins.trustedPublicKeys,
    };
  }

  private reloadRequest(row: PluginRow, source: ReloadSource): PackageRequest {
    if (source.kind === 'zip') return { kind: 'zip', file: source.file };
    if (row.source_type === 'wasm_git') {
      const ref = source.kind === 'git' ? source.ref ?? row.source_ref : row.source_ref;
      return { kind: 'git', url: row.source_url!, ...(ref ? { ref } : {}), ...(row.source_path ? { path: row.source_path } : {}) };
    }
    if (row.source_type === 'wasm_local' && source.kind === 'same') return { kind: 'local', path: row.source_url! };
    throw new ServiceError(
      400,
      'bad_request',
      row.source_type === 'wasm_zip'
        ? 'this plugin was installed from a ZIP: reload it by uploading the new ZIP as multipart field "file"'
        : `a ${source.kind} reload does not apply to a plugin installed from ${row.source_type}`,
    );
  }

  /** The runtime's component checks, as 422 problems alongside the manifest's. */
  private async checkComponent(pkg: PluginPackage, limits: ResourceLimits): Promise<void> {
    const problems = await checkComponent(pkg.wasm, {
      memoryLimitBytes: limits.memory_mb * MiB,
      requireRequestHandler: pkg.manifest.capabilities.handle_request,
    });
    if (problems.length > 0) {
      throw validationFailed(
        'plugin_validation_failed',
        `the component is not a usable format handler: ${problems.join('; ')}`,
        problems.map((message) => ({ field: 'wasm', message })),
      );
    }
  }

  private async checkConflicts(name: string, formatKey: string): Promise<void> {
    const existing = await this.deps.store.getPluginByName(name);
    if (existing) {
      throw conflict('plugin_already_exists', `a plugin named ${name} is already installed`, { existing_plugin_id: existing.id });
    }
    const owner = await this.deps.store.getFormatHandler(formatKey);
    if (owner) {
      const by = owner.handler_type === 'core' ? 'a core handler' : 'another plugin';
      throw conflict('format_key_conflict', `format key ${formatKey} is already served by ${by}`);
    }
  }

  /** Two installs racing past checkConflicts meet at the unique columns. */
  private conflictFromUnique(error: unknown, name: string, formatKey: string): unknown {
    if (!(error instanceof UniqueViolation)) return error;
    if (error.column === 'name') return conflict('plugin_already_exists', `a plugin named ${name} is already installed`);
    return conflict('format_key_conflict', `format key ${formatKey} is already served by another handler`);
  }

  private async startStored(row: PluginRow): Promise<WasmFormatHandler> {
    const wasm = await this.deps.store.getBinary(row.wasm_sha256);
    if (!wasm) throw new Error(`the component ${row.wasm_sha256} is missing from the store`);
    const dir = await this.deps.files.ensureVersion(row.id, row.version, row.wasm_sha256, async () => wasm);
    return this.startVersion(row.id, row.version, row.format_key, row.capabilities, row.resource_limits, wasm, dir);
  }

  private async startVersion(
    pluginId: string,
    version: string,
    formatKey: string,
    capabilities: Capabilities,
    limits: ResourceLimits,
    wasm: Uint8Array,
    dir: string,
  ): Promise<WasmFormatHandler> {
    const component = await this.deps.runtime.prepare(wasm);
    let pool: VersionPool;
    try {
      pool = await this.deps.runtime.startVersion({
        version,
        component,
        cwd: dir,
        limits: { memoryMb: limits.memory_mb, timeoutMs: limits.timeout_secs * 1000, instances: limits.instances },
        expectedFormatKey: formatKey,
        onEvent: (event) => void this.onRuntimeEvent(pluginId, formatKey, event),
        log: (line) => this.deps.logger.info({ plugin: pluginId, version }, line),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw validationFailed('plugin_validation_failed', `the plugin did not start: ${reason}`, [{ field: 'wasm', message: reason }]);
    }
    return new WasmFormatHandler(formatKey, capabilities, pool);
  }

  /** Runs `handler` for the plugin and, unless its format was disabled, routes calls to it. */
  private activate(id: string, handler: WasmFormatHandler, routed = true): void {
    this.running.set(id, handler);
    if (routed) this.deps.registry.swap(handler);
  }

  /**
   * Replaces a running version: new calls go to `handler` (if the old one was routed, i.e.
   * its format is enabled), then the version it replaces finishes its calls and stops.
   */
  private async swapIn(id: string, handler: WasmFormatHandler): Promise<void> {
    const previous = this.running.get(id);
    this.activate(id, handler, !previous || this.deps.registry.get(handler.formatKey) === previous);
    await previous?.drain();
  }

  private async deactivate(id: string, formatKey: string): Promise<void> {
    const handler = this.running.get(id);
    this.running.delete(id);
    if (handler && this.deps.registry.get(formatKey) === handler) this.deps.registry.remove(formatKey);
    await handler?.drain();
  }

  private async onRuntimeEvent(pluginId: string, formatKey: string, event: RuntimeEvent): Promise<void> {
    const { store, logger } = this.deps;
    this.deps.observeRuntimeEvent?.(formatKey, event);
    try {
      await store.transaction(async (tx) => {
        await this.record(tx, pluginId, event.type, event.message, { pid: event.pid ?? null, reason: event.reason ?? null }, EVENT_SEVERITY[event.type]);
        if (event.type === 'quarantined') {
          await tx.updatePlugin(pluginId, { status: 'error', error_message: `quarantined: ${event.message}` });
          await tx.updateFormatHandler(formatKey, { is_enabled: false });
          await this.record(tx, pluginId, 'format_handler_disabled', `format ${formatKey} is unavailable while the plugin is quarantined`, {});
        }
      });
      if (event.type === 'quarantined') await this.deactivate(pluginId, formatKey);
    } catch (error) {
      // The plugin may have been uninstalled meanwhile; the event is still logged.
      logger.warn({ plugin: pluginId, event, err: error instanceof Error ? error.message : String(error) }, 'could not record a runtime event');
    }
  }

  private async recordReloadFailure(row: PluginRow, error: unknown): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    await this.deps.store.addEvent({
      plugin_id: row.id,
      event_type: 'reload_failed',
      severity: 'error',
      message: `reload failed; ${row.version} keeps serving: ${reason}`,
      details: { version: row.version },
    });
  }

  private record(
    tx: StoreOps,
    pluginId: string,
    type: EventType,
    message: string,
    details: Record<string, unknown>,
    severity: EventSeverity = 'info',
  ): Promise<unknown> {
    const event: NewEvent = { plugin_id: pluginId, event_type: type, severity, message, details };
    return tx.addEvent(event);
  }
}
