/**
 * Plugin lifecycle: install, enable, disable, reload, limits, uninstall, and the plugin
 * views (with every node's actual state).
 *
 * The plugin and format rows are the cluster's desired state; a mutation is made once, by the
 * node that received it, and answers once this node serves the new state; the other nodes
 * follow when they reconcile (./reconcile.ts). Two shapes:
 * - a new version or new limits (install, reload, limits of a running plugin) is prepared
 *   first: fetch, check, store its files, start its processes until they answer. Only then
 *   one short transaction (rows, component bytes, events), and this node swaps it in and
 *   drains the version it replaces. A failure before the commit undoes what was prepared,
 *   so nothing is half-installed and the previous version keeps serving.
 * - a change of what should run (enable, disable, uninstall, limits of a stopped plugin) is
 *   committed, then this node reconciles before answering.
 * Each change moves the plugin's `generation`: a node that failed to start it, or
 * quarantined it, tries again.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { PluginHandler } from '../formats/handler.js';
import type { RoutingTable } from '../formats/routing.js';
import { checkComponent } from '../runtime/component.js';
import { UniqueViolation } from '../store/errors.js';
import type {
  EventSeverity,
  EventType,
  NewEvent,
  PluginNodeStateRow,
  PluginRow,
  PluginStatus,
  ResourceLimits,
  Store,
  StoreOps,
} from '../store/store.js';
import type {
  InstallSource,
  InstalledPluginView,
  NodeStateView,
  PluginService,
  PluginsHealth,
  PluginView,
  ProcessView,
  ReloadSource,
} from './contracts.js';
import { conflict, notFound, ServiceError, validationFailed } from './errors.js';
import { fetchPackage, resolveLimits, type PackageRequest, type PluginPackage } from './install/index.js';
import type { PluginFiles } from './plugin-files.js';
import { processRow, type Reconciler } from './reconcile.js';
import { describeError } from '../../protocol/error-text.js';

/** Repositories using a format: what uninstall's dependency check counts (filled by the repositories service). */
export interface DependentRepositories {
  forFormat(formatKey: string): Promise<Array<{ id: string; key: string }>>;
}

export interface LifecycleDeps {
  store: Store;
  /** This node's processes, kept in line with the desired state. */
  node: Reconciler;
  routing: RoutingTable;
  files: PluginFiles;
  config: Config;
  logger: Logger;
  dependents: DependentRepositories;
}

const MiB = 1024 * 1024;

export class PluginLifecycle implements PluginService {
  constructor(private readonly deps: LifecycleDeps) {}

  async list(query: Parameters<PluginService['list']>[0]) {
    // The shown status depends on the nodes' states, so the filter and the page are applied
    // here (a deployment has a plugin per format: tens of rows).
    const { store, node } = this.deps;
    const [rows, states] = await Promise.all([store.allPlugins(), store.listNodeStates({ seenSince: await node.liveSince() })]);
    const views = rows
      .map((row) => this.viewWith(row, states.filter((state) => state.plugin_id === row.id)))
      .filter((view) => (query.status === undefined || view.status === query.status) && (query.plugin_type === undefined || view.plugin_type === query.plugin_type));
    const start = (query.page - 1) * query.per_page;
    return { items: views.slice(start, start + query.per_page), total: views.length, page: query.page, per_page: query.per_page };
  }

  async get(id: string): Promise<PluginView> {
    return this.view(await this.requirePlugin(id));
  }

  async install(source: InstallSource): Promise<InstalledPluginView> {
    const pkg = await fetchPackage(source, this.fetchOptions());
    try {
      const { manifest } = pkg;
      const { limits, warnings: limitWarnings } = resolveLimits(manifest, this.deps.config.plugins.defaultLimits, this.deps.config.plugins.maxLimits);
      const replacesCore = await this.checkConflicts(manifest.plugin.name, manifest.format.key, source.replaceCore === true);
      const id = randomUUID();
      const row = await this.deps.node.whilePreparing(id, async () => {
        const handler = await this.prepareVersion(id, pkg, limits, () => this.deps.files.removePlugin(id));
        try {
          return await this.deps.node.commit(async () => {
            const inserted = await this.deps.store.transaction((tx) => this.insertRows(tx, id, pkg, limits, handler, replacesCore));
            await this.deps.node.adopt(inserted, handler, true);
            return inserted;
          });
        } catch (error) {
          await handler.drain();
          await this.deps.files.removePlugin(id);
          throw this.conflictFromUnique(error, manifest.plugin.name, manifest.format.key);
        }
      });
      this.serviceLog('info', row.name, row.version, 'installed', `installed, serving format ${row.format_key}`);
      return {
        ...(await this.view(row)),
        message: replacesCore
          ? `plugin ${row.name} ${row.version} installed and serving format ${row.format_key} in place of the core handler`
          : `plugin ${row.name} ${row.version} installed and serving format ${row.format_key}`,
        warnings: [
          ...pkg.warnings,
          ...limitWarnings,
          ...(source.replaceCore && !replacesCore ? [`replace_core ignored: ${row.format_key} is not a core format`] : []),
        ],
      };
    } finally {
      await pkg.cleanup();
    }
  }

  async enable(id: string): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    const states = await this.liveStates(id);
    if (row.status === 'active' && states.length > 0 && states.every((state) => state.state === 'running' && state.generation === row.generation)) {
      return this.viewWith(row, states);
    }
    const replacesCore = await this.replacesCore(row);
    const updated = await this.deps.node.commit(() =>
      this.deps.store.transaction(async (tx) => {
        const result = await tx.updatePlugin(id, { status: 'active', error_message: null, enabled_at: new Date().toISOString(), generation: row.generation + 1 });
        await tx.updateFormatHandler(row.format_key, { is_enabled: true });
        await this.record(tx, id, 'enabled', `${row.name} enabled`, {});
        await this.record(tx, id, 'format_handler_enabled', `format ${row.format_key} is served by ${row.name}${replacesCore ? ' in place of the core handler' : ''}`, {});
        return result!;
      }),
    );
    await this.deps.node.reconcileNow();
    const own = await this.deps.node.ownState(id);
    if (own?.state === 'error') {
      throw new ServiceError(422, 'plugin_start_failed', `the plugin could not be started: ${own.error_message}`);
    }
    return this.view(updated);
  }

  async disable(id: string): Promise<PluginView> {
    const row = await this.requirePlugin(id);
    // A plugin replacing a core handler gives the key back to it: the key stays served.
    const replacesCore = await this.replacesCore(row);
    const updated = await this.deps.node.commit(() =>
      this.deps.store.transaction(async (tx) => {
        const result = await tx.updatePlugin(id, { status: 'disabled', error_message: null, generation: row.generation + 1 });
        if (!replacesCore) await tx.updateFormatHandler(row.format_key, { is_enabled: false });
        await this.record(tx, id, 'disabled', `${row.name} stopped`, {});
        const served = replacesCore ? `format ${row.format_key} is served by the core handler again` : `format ${row.format_key} is no longer served`;
        await this.record(tx, id, 'format_handler_disabled', served, {});
        return result!;
      }),
    );
    await this.deps.node.reconcileNow();
    return this.view(updated);
  }

  async reload(id: string, source: ReloadSource): Promise<InstalledPluginView> {
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
      this.checkSamePlugin(row, pkg);
      const resolved = resolveLimits(manifest, this.deps.config.plugins.defaultLimits, this.deps.config.plugins.maxLimits);
      const overridden = Object.keys(row.limits_override ?? {});
      const limits = { ...resolved.limits, ...(row.limits_override ?? {}) };
      const version = manifest.plugin.version;
      const { files, node } = this.deps;
      const sameFolder = files.versionDir(id, version, pkg.wasmSha256) === files.versionDir(id, row.version, row.wasm_sha256);
      const discard = async () => {
        if (!sameFolder) await files.removeVersion(id, version, pkg.wasmSha256);
      };
      // A version running here is replaced under calls: the new one is ready before the swap.
      const handler = row.status === 'active' && this.deps.routing.plugin(id)
        ? await this.prepareVersion(id, pkg, limits, discard)
        : await this.storeVersion(id, pkg, limits, discard);
      try {
        const updated = await node.commit(async () => {
          const result = await this.deps.store.transaction((tx) => this.reloadRows(tx, row, pkg, limits));
          if (handler) await node.adopt(result, handler);
          return result;
        });
        if (!handler && !sameFolder) await files.removeVersion(id, row.version, row.wasm_sha256);
        if (!handler) await node.reconcileNow();
        this.serviceLog('info', row.name, version, 'reloaded', `reloaded from ${row.version}`);
        return {
          ...(await this.view(updated)),
          message: `plugin ${row.name} reloaded: ${row.version} → ${version}, serving format ${row.format_key}`,
          warnings: [
            ...pkg.warnings,
            ...resolved.warnings,
            ...(overridden.length > 0 ? [`limits set by an admin kept over the manifest's: ${overridden.join(', ')}`] : []),
          ],
        };
      } catch (error) {
        await handler?.drain();
        await discard();
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
    const changed = { ...row, resource_limits: { ...row.resource_limits, ...patch } };
    const { node } = this.deps;
    // Running here: the processes with the new limits answer before the commit (422 if they
    // cannot start, and the old ones keep serving).
    const handler = row.status === 'active' && this.deps.routing.plugin(id) ? await node.startStored(changed) : undefined;
    try {
      // No event: the contract's event types have none for a limits change.
      const updated = await node.commit(async () => {
        const result = (await this.deps.store.updatePlugin(id, {
          resource_limits: changed.resource_limits,
          limits_override: { ...(row.limits_override ?? {}), ...patch },
          generation: row.generation + 1,
        }))!;
        if (handler) await node.adopt(result, handler);
        return result;
      });
      if (!handler) await node.reconcileNow();
      return this.view(updated);
    } catch (error) {
      await handler?.drain();
      throw error;
    }
  }

  async uninstall(id: string, options: { force: boolean }): Promise<void> {
    const row = await this.requirePlugin(id);
    // The core handler a plugin replaced serves its repositories again: nothing depends on the plugin.
    const replacesCore = await this.replacesCore(row);
    const dependents = replacesCore ? [] : await this.deps.dependents.forFormat(row.format_key);
    if (dependents.length > 0 && !options.force) {
      throw conflict(
        'dependency_conflict',
        `${dependents.length} repositories use format ${row.format_key}; uninstall with force=true to proceed`,
        { dependent_repositories: dependents },
      );
    }
    await this.deps.node.commit(() =>
      this.deps.store.transaction(async (tx) => {
        // The core row stays; deleting the plugin clears its `replaced_by`.
        if (!replacesCore) await tx.deleteFormatHandler(row.format_key);
        await tx.deletePlugin(id);
        await tx.deleteBinaryIfUnused(row.wasm_sha256);
        await this.record(tx, id, 'uninstalled', `uninstalled ${row.name} ${row.version}`, {
          forced: options.force,
          dependent_repositories: dependents,
        });
      }),
    );
    // The pass retires the processes and removes the files, here and on every node.
    await this.deps.node.reconcileNow();
  }

  async events(id: string, query: { severity?: EventSeverity; limit: number }) {
    const { store } = this.deps;
    if (!(await store.getPlugin(id)) && !(await store.hasEvents(id))) throw this.missing(id);
    return { items: await store.listEvents(id, query) };
  }

  /** This node's processes as they are now, and the other live nodes' as of their last heartbeat. */
  async processes(id: string): Promise<{ items: ProcessView[] }> {
    await this.requirePlugin(id);
    const { store, node, routing, config } = this.deps;
    const self = config.cluster.nodeId;
    const handler = routing.plugin(id);
    const local = handler ? (await handler.processes()).map((p) => ({ node_id: self, ...processRow(p) })) : [];
    const others = (await store.listProcesses(id, await node.liveSince()))
      .filter((row) => row.node_id !== self)
      .map(({ plugin_id: _plugin, slot: _slot, updated_at: _updated, ...fields }) => fields);
    return { items: [...local, ...others] };
  }

  /** Counts for the health check: desired active, running here, and shown as `error`. */
  /**
   * This node's side of `/health`: every plugin meant to be active (its desired status) should
   * run here; each that does not is named with this node's state of it (quarantined, error,
   * starting, stopped) and the reason. Judged per node: another node serving it does not
   * make this one healthy, and this one failing does not make the others unhealthy.
   */
  async nodeHealth(): Promise<PluginsHealth> {
    const { store, routing } = this.deps;
    const [rows, own] = await Promise.all([store.allPlugins(), store.nodeStatesOf(this.deps.config.cluster.nodeId)]);
    const states = new Map(own.map((state) => [state.plugin_id, state]));
    const active = rows.filter((row) => row.status === 'active');
    const failing: PluginsHealth['failing'] = [];
    for (const row of active) {
      const handler = routing.plugin(row.id);
      if (handler?.state() === 'running') continue;
      const state = states.get(row.id);
      failing.push({
        id: row.id,
        name: row.name,
        version: state?.version ?? row.version,
        state: handler?.state() === 'quarantined' ? 'quarantined' : (state?.state ?? 'stopped'),
        message: state?.error_message ?? handler?.quarantineReason() ?? null,
      });
    }
    return {
      ok: failing.length === 0,
      active: active.length,
      running: active.length - failing.length,
      error: failing.filter((plugin) => plugin.state === 'error' || plugin.state === 'quarantined').length,
      failing,
    };
  }

  /**
   * The fetched package made a running version: its component checked, its files stored,
   * its processes started and answering. On failure `discard` removes the files.
   */
  private async prepareVersion(id: string, pkg: PluginPackage, limits: ResourceLimits, discard: () => Promise<void>): Promise<PluginHandler> {
    await this.storeVersion(id, pkg, limits, discard);
    const { manifest } = pkg;
    try {
      return await this.deps.node.startVersion({
        pluginId: id,
        pluginName: manifest.plugin.name,
        version: manifest.plugin.version,
        formatKey: manifest.format.key,
        capabilities: manifest.capabilities,
        limits,
        wasmSha256: pkg.wasmSha256,
        wasm: pkg.wasm,
        dir: this.deps.files.versionDir(id, manifest.plugin.version, pkg.wasmSha256),
      });
    } catch (error) {
      await discard();
      throw error;
    }
  }

  /** The package's component checked and its files stored (no processes: undefined). */
  private async storeVersion(id: string, pkg: PluginPackage, limits: ResourceLimits, discard: () => Promise<void>): Promise<undefined> {
    await this.checkComponent(pkg, limits);
    try {
      await this.deps.files.storeVersion(id, pkg.manifest.plugin.version, pkg.wasmSha256, pkg.dir);
    } catch (error) {
      await discard();
      throw error;
    }
    return undefined;
  }

  private async insertRows(tx: StoreOps, id: string, pkg: PluginPackage, limits: ResourceLimits, handler: PluginHandler, replacesCore: boolean): Promise<PluginRow> {
    const { manifest } = pkg;
    await tx.putBinary(pkg.wasmSha256, pkg.wasm);
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
      enabled_at: new Date().toISOString(),
    });
    if (replacesCore) {
      if (!(await tx.claimCoreFormat(manifest.format.key, id))) throw this.replacedAlready(manifest.format.key);
    } else await tx.insertFormatHandler({
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
    await this.record(tx, id, 'enabled', `${manifest.plugin.name} started`, { pids: handler.pids() });
    const inPlace = replacesCore ? ' in place of the core handler' : '';
    await this.record(tx, id, 'format_handler_enabled', `format ${manifest.format.key} is served by ${manifest.plugin.name}${inPlace}`, {});
    return inserted;
  }

  private async reloadRows(tx: StoreOps, row: PluginRow, pkg: PluginPackage, limits: ResourceLimits): Promise<PluginRow> {
    const { manifest } = pkg;
    const version = manifest.plugin.version;
    await tx.putBinary(pkg.wasmSha256, pkg.wasm);
    const result = await tx.updatePlugin(row.id, {
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
      generation: row.generation + 1,
    });
    // A core row keeps describing the core format; only a plugin's own row follows its manifest.
    if ((await tx.getFormatHandler(row.format_key))?.handler_type === 'wasm') await tx.updateFormatHandler(row.format_key, {
      display_name: manifest.format.display_name,
      description: manifest.format.description,
      extensions: manifest.format.extensions,
      capabilities: manifest.capabilities,
    });
    await tx.deleteBinaryIfUnused(row.wasm_sha256);
    await this.record(tx, row.id, 'reloaded', `reloaded ${row.name} ${row.version} → ${version}`, {
      old_version: row.version,
      new_version: version,
      wasm_sha256: pkg.wasmSha256,
    });
    return result!;
  }

  /** A reload replaces the same plugin serving the same format. */
  private checkSamePlugin(row: PluginRow, pkg: PluginPackage): void {
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
  }

  private async liveStates(id: string): Promise<PluginNodeStateRow[]> {
    return this.deps.store.listNodeStates({ pluginId: id, seenSince: await this.deps.node.liveSince() });
  }

  private async view(row: PluginRow): Promise<PluginView> {
    return this.viewWith(row, await this.liveStates(row.id));
  }

  /**
   * The plugin object: its row, this node's runtime, and every live node's state. It shows
   * `error` only when it should run and no live node serves it: each quarantined it, or
   * failed to start it with no previous version left running.
   */
  private viewWith(row: PluginRow, states: PluginNodeStateRow[]): PluginView {
    const { manifest: _manifest, limits_override: _override, generation: _generation, ...fields } = row;
    const serves = (state: PluginNodeStateRow) => state.state !== 'quarantined' && (state.state !== 'error' || state.pids.length > 0);
    const failed = row.status === 'active' && states.length > 0 && !states.some(serves);
    const status: PluginStatus = failed ? 'error' : row.status;
    const handler = this.deps.routing.plugin(row.id);
    const nodes: NodeStateView[] = states.map(({ plugin_id: _plugin, generation: _g, ...state }) => state);
    return {
      ...fields,
      status,
      error_message: failed ? states[0]!.error_message : row.error_message,
      plugin_id: row.id,
      runtime: handler
        ? { state: handler.state(), instances: row.resource_limits.instances, restarts: handler.restarts(), pids: handler.pids() }
        : { state: 'not_started', instances: row.resource_limits.instances, restarts: 0, pids: [] },
      nodes,
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

  /**
   * The name and the key are free (a core key only when the admin asked to replace its core
   * handler and no plugin replaces it yet); returns whether the plugin will replace a core handler.
   */
  private async checkConflicts(name: string, formatKey: string, replaceCore: boolean): Promise<boolean> {
    const existing = await this.deps.store.getPluginByName(name);
    if (existing) {
      throw conflict('plugin_already_exists', `a plugin named ${name} is already installed`, { existing_plugin_id: existing.id });
    }
    const owner = await this.deps.store.getFormatHandler(formatKey);
    if (!owner) return false;
    if (owner.handler_type === 'wasm') throw conflict('format_key_conflict', `format key ${formatKey} is already served by another plugin`);
    if (owner.replaced_by) throw this.replacedAlready(formatKey);
    if (!replaceCore) {
      throw conflict(
        'format_key_conflict',
        `format key ${formatKey} is served by the core ${formatKey} handler; install with replace_core: true to replace it with this plugin`,
        { core_handler: formatKey, flag: 'replace_core' },
      );
    }
    return true;
  }

  private replacedAlready(formatKey: string): ServiceError {
    return conflict('format_key_conflict', `the core ${formatKey} handler is already replaced by another plugin`, { core_handler: formatKey });
  }

  /** Does this plugin serve a core key in place of the core handler? */
  private async replacesCore(row: PluginRow): Promise<boolean> {
    return (await this.deps.store.getFormatHandler(row.format_key))?.replaced_by === row.id;
  }

  /** Two installs racing past checkConflicts meet at the unique columns. */
  private conflictFromUnique(error: unknown, name: string, formatKey: string): unknown {
    if (!(error instanceof UniqueViolation)) return error;
    if (error.column === 'name') return conflict('plugin_already_exists', `a plugin named ${name} is already installed`);
    return conflict('format_key_conflict', `format key ${formatKey} is already served by another handler`);
  }

  /** One service log line per lifecycle change, with plugin, version, node and reason (crashes and the like: reconcile.ts). */
  private serviceLog(level: 'info' | 'warn', plugin: string, version: string, event: string, reason: string): void {
    this.deps.logger[level]({ plugin, version, node: this.deps.config.cluster.nodeId, event, reason }, `plugin ${event}`);
  }

  private async recordReloadFailure(row: PluginRow, error: unknown): Promise<void> {
    const reason = describeError(error);
    this.serviceLog('warn', row.name, row.version, 'reload_failed', reason);
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
