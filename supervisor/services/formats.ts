/**
 * Format handlers as the API sees them: the store's rows, the routing table's live
 * handlers, enable/disable of a format (not of its plugin), and the test endpoint.
 *
 * A disabled format is not served (uploads get `format_unavailable`) while its plugin keeps
 * running and its row stays readable. The row is the cluster's desired state: this node
 * applies it at once, the others when they reconcile.
 */
import { performance } from 'node:perf_hooks';
import { bytesSource } from '../formats/artifact-source.js';
import type { FormatHandler } from '../formats/handler.js';
import type { RoutingTable } from '../formats/routing.js';
import { ArtifactInvalid, FormatUnavailable } from '../formats/errors.js';
import type { FormatHandlerRow, HandlerType, Store } from '../store/store.js';
import type { FormatService, FormatTestInput, FormatTestResult, FormatView } from './contracts.js';
import { conflict, notFound } from './errors.js';
import type { DependentRepositories } from './lifecycle.js';
import type { DesiredStateChanges } from './reconcile.js';

export interface FormatServiceDeps {
  store: Store;
  routing: RoutingTable;
  dependents: DependentRepositories;
  /** Core handlers by format key (always instantiated; the routing table serves the enabled ones). */
  coreHandlers: ReadonlyMap<string, FormatHandler>;
  changes: DesiredStateChanges;
}

export class FormatCatalog implements FormatService {
  constructor(private readonly deps: FormatServiceDeps) {}

  /**
   * At start: routes each enabled core format to its compiled handler, and brings the core
   * rows' capabilities in line with the handlers (the compiled code is the truth about what
   * a core format does; a row seeded by an earlier release follows it).
   */
  async startCoreHandlers(): Promise<void> {
    for (const row of await this.deps.store.listFormatHandlers({ handler_type: 'core' })) {
      const handler = this.deps.coreHandlers.get(row.format_key);
      if (!handler) continue;
      const capabilities = Object.keys(handler.capabilities) as Array<keyof typeof handler.capabilities>;
      if (capabilities.some((name) => row.capabilities[name] !== handler.capabilities[name])) {
        await this.deps.store.updateFormatHandler(row.format_key, { capabilities: { ...handler.capabilities } });
      }
      this.deps.routing.addCore(handler, row.is_enabled);
    }
  }

  async list(query: { handler_type?: HandlerType; enabled?: boolean }) {
    // The type shown depends on whether a replacing plugin is active: filtered on the views.
    const rows = await this.deps.store.listFormatHandlers({ enabled: query.enabled });
    const items = (await Promise.all(rows.map((row) => this.view(row)))).filter((view) => query.handler_type === undefined || view.handler_type === query.handler_type);
    return { items, total: items.length };
  }

  async get(formatKey: string): Promise<FormatView> {
    return this.view(await this.require(formatKey));
  }

  async enable(formatKey: string): Promise<FormatView> {
    const row = await this.require(formatKey);
    // A core format has no plugin to wait for: its row is enabled even when this server has no
    // implementation of it yet (as at start, only implemented ones are routed).
    if (row.plugin_id && (await this.deps.store.getPlugin(row.plugin_id))?.status !== 'active') {
      throw conflict('plugin_not_active', `format ${formatKey} belongs to a plugin that is not active: enable the plugin first`);
    }
    return this.setEnabled(row, true);
  }

  async disable(formatKey: string): Promise<FormatView> {
    const row = await this.require(formatKey);
    if (row.is_enabled && (await this.deps.store.countEnabledFormatHandlers()) <= 1) {
      throw conflict('last_enabled_format', `format ${formatKey} is the last enabled format and cannot be disabled`);
    }
    return this.setEnabled(row, false);
  }

  /** Commits the flag, applies it here, tells the other nodes; an event when it changed for a plugin's format. */
  private async setEnabled(row: FormatHandlerRow, enabled: boolean): Promise<FormatView> {
    const { format_key: formatKey } = row;
    const updated = await this.deps.changes.commit(async () => {
      const result = await this.deps.store.transaction(async (tx) => {
        const changed = await tx.updateFormatHandler(formatKey, { is_enabled: enabled });
        if (row.plugin_id && row.is_enabled !== enabled) {
          await tx.addEvent({
            plugin_id: row.plugin_id,
            node_id: null,
            event_type: enabled ? 'format_handler_enabled' : 'format_handler_disabled',
            severity: 'info',
            message: enabled ? `format ${formatKey} enabled` : `format ${formatKey} disabled; the plugin keeps running`,
            details: {},
          });
        }
        return changed!;
      });
      this.deps.routing.setEnabled(formatKey, enabled);
      return result;
    });
    return this.view(updated);
  }

  async test(formatKey: string, input: FormatTestInput): Promise<FormatTestResult> {
    const row = await this.require(formatKey);
    const handler = this.deps.routing.get(formatKey);
    if (!handler) throw new FormatUnavailable(`format ${formatKey} is disabled`);
    // Several calls: the version they run on stays until the last one is over.
    return handler.use(() => this.runTest(handler, row, input));
  }

  private async runTest(handler: FormatHandler, row: FormatHandlerRow, input: FormatTestInput): Promise<FormatTestResult> {
    const formatKey = row.format_key;
    const result: FormatTestResult = {
      success: false,
      format_key: formatKey,
      // The handler that ran: a plugin replacing a core handler runs under the core row.
      handler_type: handler.handlerType,
      execution_time_ms: 0,
      memory_used_bytes: null,
      metadata: null,
      validation_result: { valid: false, errors: [] },
      error: null,
    };
    const started = performance.now();
    try {
      await handler.validate(input.path, bytesSource(input.content));
      result.validation_result.valid = true;
      const metadata = await handler.parseMetadata(input.path, bytesSource(input.content));
      result.metadata = {
        path: metadata.path,
        version: metadata.version,
        content_type: metadata.contentType,
        size_bytes: metadata.sizeBytes,
        checksum_sha256: metadata.checksumSha256,
        // A 1.1.0 handler's properties, as the artifact API shows them.
        ...(metadata.properties !== undefined && { properties: Object.fromEntries(metadata.properties) }),
      };
      result.success = true;
    } catch (error) {
      // A handler's own rejection is the test's answer; a crash or a limit is the plugin's failure.
      if (!(error instanceof ArtifactInvalid)) throw error;
      if (!result.validation_result.valid) result.validation_result.errors.push(error.message);
      result.error = error.message;
    }
    result.execution_time_ms = Math.round((performance.now() - started) * 1000) / 1000;
    result.memory_used_bytes = await handler.memoryUsedBytes();
    return result;
  }

  private async require(formatKey: string): Promise<FormatHandlerRow> {
    const row = await this.deps.store.getFormatHandler(formatKey);
    if (!row) throw notFound(`no format handler for key ${formatKey}`);
    return row;
  }

  private async view(row: FormatHandlerRow): Promise<FormatView> {
    const { replaced_by: replacedBy, ...fields } = row;
    const repositories = await this.deps.dependents.forFormat(row.format_key);
    const replacing = replacedBy ? await this.deps.store.getPlugin(replacedBy) : undefined;
    if (replacing?.status === 'active') {
      return { ...fields, handler_type: 'wasm', plugin_id: replacing.id, capabilities: replacing.capabilities, repository_count: repositories.length, replaces_core: true };
    }
    return { ...fields, repository_count: repositories.length, replaces_core: false };
  }
}
