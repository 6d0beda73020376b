/**
 * Every query of the store, written once for both engines over the `Db` of ./db.ts
 * (portable SQL, `?` placeholders; rows decoded by ./rows.ts).
 */
import { randomUUID } from 'node:crypto';
import { timestamp } from './clock.js';
import type { Db, SqlValue } from './db.js';
import {
  apiTokens,
  artifacts,
  clusterNodes,
  decode,
  encode,
  formatHandlers,
  indexFiles,
  pluginEvents,
  pluginLogs,
  pluginNodeStates,
  pluginProcesses,
  plugins,
  repositories,
  toBytes,
  toNumber,
  type Table,
} from './rows.js';
import type {
  ApiTokenRow,
  ArtifactRow,
  BlobPin,
  ClusterNodeRow,
  EventSeverity,
  FormatHandlerPatch,
  FormatHandlerRow,
  FormatListQuery,
  IndexFileRow,
  IndexGenerations,
  NewArtifact,
  NewClusterNode,
  NewEvent,
  NewPluginLogLine,
  LogRetention,
  PluginLogQuery,
  PluginLogRow,
  NewFormatHandler,
  NewPlugin,
  NewRepository,
  NewToken,
  PluginEventRow,
  PluginListQuery,
  PluginNodeStateRow,
  PluginPatch,
  PluginProcessRow,
  PluginRow,
  RepositoryIndexState,
  RepositoryRow,
  StoreOps,
} from './store.js';
import { sha256Hex } from '../sha256.js';

/** Log lines per INSERT: 9 parameters each, far below SQLite's and PostgreSQL's limits. */
const LOG_INSERT_ROWS = 200;

/** The store's operations as SQL: one instance over the pool, one per transaction. */
export class StoreQueries implements StoreOps {
  constructor(protected readonly db: Db) {}

  getPlugin(id: string): Promise<PluginRow | undefined> {
    return this.one(plugins, 'SELECT * FROM plugins WHERE id = ?', [id]);
  }

  getPluginByName(name: string): Promise<PluginRow | undefined> {
    return this.one(plugins, 'SELECT * FROM plugins WHERE name = ?', [name]);
  }

  getPluginByFormatKey(formatKey: string): Promise<PluginRow | undefined> {
    return this.one(plugins, 'SELECT * FROM plugins WHERE format_key = ?', [formatKey]);
  }

  async listPlugins(query: PluginListQuery): Promise<{ items: PluginRow[]; total: number }> {
    requirePositiveInteger('page', query.page);
    requirePositiveInteger('per_page', query.per_page);
    const filter = where([
      ['status', query.status],
      ['plugin_type', query.plugin_type],
    ]);
    const items = await this.many(plugins, `SELECT * FROM plugins${filter.sql} ORDER BY name LIMIT ? OFFSET ?`, [
      ...filter.params,
      query.per_page,
      (query.page - 1) * query.per_page,
    ]);
    const total = await this.count(`SELECT COUNT(*) AS n FROM plugins${filter.sql}`, filter.params);
    return { items, total };
  }

  allPlugins(): Promise<PluginRow[]> {
    return this.many(plugins, 'SELECT * FROM plugins ORDER BY name', []);
  }

  insertPlugin(plugin: NewPlugin): Promise<PluginRow> {
    const now = timestamp();
    return this.insert(plugins, { generation: 1, ...plugin, installed_at: now, updated_at: now });
  }

  updatePlugin(id: string, patch: PluginPatch): Promise<PluginRow | undefined> {
    return this.update<PluginRow>(plugins, 'id', id, patch);
  }

  async deletePlugin(id: string): Promise<boolean> {
    // The nodes' rows of the plugin first, then the plugin. A node rewriting its process rows
    // (a heartbeat) holds them, then locks the plugin row for its foreign key; the cascade of
    // a plugin deleted first would take the same two locks the other way round: a deadlock
    // on PostgreSQL, and the uninstall failing with it.
    await this.db.run('DELETE FROM plugin_processes WHERE plugin_id = ?', [id]);
    await this.db.run('DELETE FROM plugin_node_states WHERE plugin_id = ?', [id]);
    return (await this.db.run('DELETE FROM plugins WHERE id = ?', [id])) > 0;
  }

  async putBinary(sha256: string, wasm: Uint8Array): Promise<void> {
    // The digest is the binary's name everywhere (plugin rows, transpile cache): a wrong one
    // would make another version's bytes run under this one's name.
    const digest = sha256Hex(wasm);
    if (digest !== sha256) throw new Error(`binary named ${sha256} has SHA-256 ${digest}`);
    await this.db.run(
      'INSERT INTO plugin_binaries (sha256, wasm, size_bytes, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING',
      [sha256, wasm, wasm.byteLength, timestamp()],
    );
  }

  async getBinary(sha256: string): Promise<Uint8Array | undefined> {
    const row = await this.db.get('SELECT wasm FROM plugin_binaries WHERE sha256 = ?', [sha256]);
    return row && toBytes(row.wasm, 'plugin_binaries.wasm');
  }

  async deleteBinaryIfUnused(sha256: string): Promise<void> {
    await this.db.run(
      `DELETE FROM plugin_binaries WHERE sha256 = ?
         AND NOT EXISTS (SELECT 1 FROM plugins WHERE plugins.wasm_sha256 = plugin_binaries.sha256)`,
      [sha256],
    );
  }

  getFormatHandler(formatKey: string): Promise<FormatHandlerRow | undefined> {
    return this.one(formatHandlers, 'SELECT * FROM format_handlers WHERE format_key = ?', [formatKey]);
  }

  listFormatHandlers(query: FormatListQuery): Promise<FormatHandlerRow[]> {
    const filter = where([
      ['handler_type', query.handler_type],
      ['is_enabled', query.enabled === undefined ? undefined : Number(query.enabled)],
    ]);
    return this.many(formatHandlers, `SELECT * FROM format_handlers${filter.sql} ORDER BY format_key`, filter.params);
  }

  insertFormatHandler(handler: NewFormatHandler): Promise<FormatHandlerRow> {
    const now = timestamp();
    return this.insert(formatHandlers, { ...handler, replaced_by: null, created_at: now, updated_at: now });
  }

  updateFormatHandler(formatKey: string, patch: FormatHandlerPatch): Promise<FormatHandlerRow | undefined> {
    return this.update<FormatHandlerRow>(formatHandlers, 'format_key', formatKey, patch);
  }

  async deleteFormatHandler(formatKey: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM format_handlers WHERE format_key = ?', [formatKey])) > 0;
  }

  async claimCoreFormat(formatKey: string, pluginId: string): Promise<boolean> {
    const claimed = await this.db.get(
      "UPDATE format_handlers SET replaced_by = ?, updated_at = ? WHERE format_key = ? AND handler_type = 'core' AND replaced_by IS NULL RETURNING id",
      [pluginId, timestamp(), formatKey],
    );
    return claimed !== undefined;
  }

  countEnabledFormatHandlers(): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM format_handlers WHERE is_enabled = 1', []);
  }

  addEvent(event: NewEvent): Promise<PluginEventRow> {
    return this.insert(pluginEvents, { node_id: null, ...event, id: randomUUID(), created_at: timestamp() });
  }

  listEvents(pluginId: string, query: { severity?: EventSeverity; limit: number }): Promise<PluginEventRow[]> {
    requirePositiveInteger('limit', query.limit);
    const filter = where([
      ['plugin_id', pluginId],
      ['severity', query.severity],
    ]);
    // The id breaks ties between events of the same millisecond written by different processes.
    return this.many(pluginEvents, `SELECT * FROM plugin_events${filter.sql} ORDER BY created_at DESC, id DESC LIMIT ?`, [
      ...filter.params,
      query.limit,
    ]);
  }

  async hasEvents(pluginId: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS found FROM plugin_events WHERE plugin_id = ? LIMIT 1', [pluginId])) !== undefined;
  }

  async putNodeState(state: Omit<PluginNodeStateRow, 'updated_at'>): Promise<void> {
    await this.insertIfPluginExists(pluginNodeStates, { ...state, updated_at: timestamp() }, ['plugin_id', 'node_id']);
  }

  listNodeStates(query: { pluginId?: string; seenSince: string }): Promise<PluginNodeStateRow[]> {
    const plugin = query.pluginId === undefined ? '' : ' AND s.plugin_id = ?';
    return this.many(
      pluginNodeStates,
      `SELECT s.* FROM plugin_node_states s JOIN cluster_nodes n ON n.node_id = s.node_id
       WHERE n.state = 'up' AND n.last_seen_at >= ?${plugin} ORDER BY s.node_id, s.plugin_id`,
      query.pluginId === undefined ? [query.seenSince] : [query.seenSince, query.pluginId],
    );
  }

  nodeStatesOf(nodeId: string): Promise<PluginNodeStateRow[]> {
    return this.many(pluginNodeStates, 'SELECT * FROM plugin_node_states WHERE node_id = ?', [nodeId]);
  }

  async replaceNodeProcesses(nodeId: string, processes: Array<Omit<PluginProcessRow, 'updated_at'>>): Promise<void> {
    await this.db.run('DELETE FROM plugin_processes WHERE node_id = ?', [nodeId]);
    const now = timestamp();
    for (const process of processes) await this.insertIfPluginExists(pluginProcesses, { ...process, node_id: nodeId, updated_at: now });
  }

  async listProcesses(pluginId: string, seenSince: string): Promise<PluginProcessRow[]> {
    return this.many(
      pluginProcesses,
      `SELECT p.* FROM plugin_processes p JOIN cluster_nodes n ON n.node_id = p.node_id
       WHERE n.state = 'up' AND n.last_seen_at >= ? AND p.plugin_id = ? ORDER BY p.node_id, p.version, p.slot`,
      [seenSince, pluginId],
    );
  }

  async appendPluginLogs(pluginId: string, lines: NewPluginLogLine[], retention: LogRetention): Promise<number> {
    if (lines.length === 0) return 0;
    const sizes = lines.map((line) => Buffer.byteLength(line.text, 'utf8'));
    const added = sizes.reduce((sum, size) => sum + size, 0);
    await this.db.run(
      'INSERT INTO plugin_log_counters (plugin_id, last_seq, bytes) SELECT ?, 0, 0 WHERE EXISTS (SELECT 1 FROM plugins WHERE id = ?) ON CONFLICT (plugin_id) DO NOTHING',
      [pluginId, pluginId],
    );
    // Takes the counter row's lock (PostgreSQL) until the transaction ends: one writer per plugin at a time.
    const counter = await this.db.get(
      'UPDATE plugin_log_counters SET last_seq = last_seq + ?, bytes = bytes + ? WHERE plugin_id = ? RETURNING last_seq, bytes',
      [lines.length, added, pluginId],
    );
    if (!counter) return 0;
    const lastSeq = toNumber(counter.last_seq, 'plugin_log_counters.last_seq');
    let bytes = toNumber(counter.bytes, 'plugin_log_counters.bytes');
    const first = lastSeq - lines.length + 1;
    // Several rows per statement, within every engine's limit on parameters.
    for (let start = 0; start < lines.length; start += LOG_INSERT_ROWS) {
      const chunk = lines.slice(start, start + LOG_INSERT_ROWS);
      await this.db.run(
        `INSERT INTO plugin_logs (plugin_id, seq, time, node_id, pid, version, stream, text, bytes) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((line, i) => [pluginId, first + start + i, line.time, line.node_id, line.pid, line.version, line.stream, line.text, sizes[start + i]!]),
      );
    }
    // Retention: first by count, then by bytes, oldest lines first.
    let cutoff = lastSeq - retention.lines;
    if (bytes > retention.bytes) {
      const newest = await this.db.all('SELECT seq, bytes FROM plugin_logs WHERE plugin_id = ? AND seq > ? ORDER BY seq DESC', [pluginId, cutoff]);
      let kept = 0;
      for (const row of newest) {
        kept += toNumber(row.bytes, 'plugin_logs.bytes');
        if (kept > retention.bytes) {
          cutoff = Math.max(cutoff, toNumber(row.seq, 'plugin_logs.seq'));
          break;
        }
      }
    }
    if (cutoff > 0) {
      const removed = await this.db.get('SELECT COALESCE(SUM(bytes), 0) AS n FROM plugin_logs WHERE plugin_id = ? AND seq <= ?', [pluginId, cutoff]);
      const removedBytes = toNumber(removed?.n, 'SUM(bytes)');
      if (removedBytes > 0 || bytes > retention.bytes) {
        await this.db.run('DELETE FROM plugin_logs WHERE plugin_id = ? AND seq <= ?', [pluginId, cutoff]);
        bytes -= removedBytes;
        await this.db.run('UPDATE plugin_log_counters SET bytes = ? WHERE plugin_id = ?', [bytes, pluginId]);
      }
    }
    return lines.length;
  }

  async listPluginLogs(pluginId: string, query: PluginLogQuery): Promise<PluginLogRow[]> {
    requirePositiveInteger('limit', query.limit);
    const conditions = ['plugin_id = ?'];
    const params: SqlValue[] = [pluginId];
    if (query.after !== undefined) conditions.push('seq > ?'), params.push(query.after);
    if (query.since !== undefined) conditions.push('time >= ?'), params.push(query.since);
    if (query.stream !== undefined) conditions.push('stream = ?'), params.push(query.stream);
    const rows = await this.many(
      pluginLogs,
      `SELECT seq, time, node_id, pid, version, stream, text FROM plugin_logs WHERE ${conditions.join(' AND ')} ORDER BY seq ${query.oldest ? 'ASC' : 'DESC'} LIMIT ?`,
      [...params, query.limit],
    );
    return query.oldest ? rows : rows.reverse();
  }

  async deleteNodeRuntime(nodeId: string): Promise<void> {
    await this.db.run('DELETE FROM plugin_processes WHERE node_id = ?', [nodeId]);
    await this.db.run('DELETE FROM plugin_node_states WHERE node_id = ?', [nodeId]);
  }

  insertToken(token: NewToken): Promise<ApiTokenRow> {
    return this.insert(apiTokens, { ...token, created_at: timestamp(), last_used_at: null, revoked_at: null });
  }

  findTokenByHash(tokenHash: string): Promise<ApiTokenRow | undefined> {
    return this.one(apiTokens, 'SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL', [tokenHash]);
  }

  listTokens(): Promise<ApiTokenRow[]> {
    return this.many(apiTokens, 'SELECT * FROM api_tokens ORDER BY created_at, id', []);
  }

  async revokeToken(id: string): Promise<boolean> {
    const changed = await this.db.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [timestamp(), id]);
    return changed > 0;
  }

  async touchToken(id: string): Promise<void> {
    await this.db.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [timestamp(), id]);
  }

  insertRepository(repository: NewRepository): Promise<RepositoryRow> {
    const now = timestamp();
    return this.insert(repositories, { ...repository, index_generated_at: null, index_error: null, created_at: now, updated_at: now });
  }

  getRepository(key: string): Promise<RepositoryRow | undefined> {
    return this.one(repositories, 'SELECT * FROM repositories WHERE key = ?', [key]);
  }

  listRepositories(query: { format?: string }): Promise<RepositoryRow[]> {
    const filter = where([['format', query.format]]);
    return this.many(repositories, `SELECT * FROM repositories${filter.sql} ORDER BY key`, filter.params);
  }

  async deleteRepository(key: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM repositories WHERE key = ?', [key])) > 0;
  }

  async repositoriesForFormat(format: string): Promise<Array<{ id: string; key: string }>> {
    const rows = await this.db.all('SELECT id, key FROM repositories WHERE format = ? ORDER BY key', [format]);
    return rows.map((row) => ({ id: String(row.id), key: String(row.key) }));
  }

  getRepositoryById(id: string): Promise<RepositoryRow | undefined> {
    return this.one(repositories, 'SELECT * FROM repositories WHERE id = ?', [id]);
  }

  async setRepositoryIndexState(id: string, state: RepositoryIndexState): Promise<void> {
    await this.db.run('UPDATE repositories SET index_generated_at = ?, index_error = ? WHERE id = ?', [state.index_generated_at, state.index_error, id]);
  }

  async getIndexBaseUrl(id: string): Promise<string | null> {
    const row = await this.db.get('SELECT index_base_url FROM repositories WHERE id = ?', [id]);
    return (row?.index_base_url as string | null | undefined) ?? null;
  }

  async setIndexBaseUrl(id: string, baseUrl: string): Promise<void> {
    await this.db.run('UPDATE repositories SET index_base_url = ? WHERE id = ?', [baseUrl, id]);
  }

  async requestIndexRun(id: string): Promise<number | undefined> {
    const row = await this.db.get('UPDATE repositories SET index_requested = index_requested + 1 WHERE id = ? RETURNING index_requested', [id]);
    return row && toNumber(row.index_requested, 'repositories.index_requested');
  }

  async getIndexGenerations(id: string): Promise<IndexGenerations | undefined> {
    const row = await this.db.get('SELECT index_requested, index_built FROM repositories WHERE id = ?', [id]);
    return row && { requested: toNumber(row.index_requested, 'repositories.index_requested'), built: toNumber(row.index_built, 'repositories.index_built') };
  }

  async setIndexBuilt(id: string, generation: number): Promise<void> {
    await this.db.run('UPDATE repositories SET index_built = ? WHERE id = ? AND index_built < ?', [generation, id, generation]);
  }

  getArtifact(repositoryId: string, path: string): Promise<ArtifactRow | undefined> {
    return this.one(artifacts, 'SELECT * FROM artifacts WHERE repository_id = ? AND path = ?', [repositoryId, path]);
  }

  async listArtifacts(repositoryId: string, query: { prefix?: string }): Promise<ArtifactRow[]> {
    // substr and length count characters on both engines; LIKE would need its wildcards escaped.
    const prefix = query.prefix ? ' AND substr(path, 1, ?) = ?' : '';
    const params = query.prefix ? [repositoryId, [...query.prefix].length, query.prefix] : [repositoryId];
    const rows = await this.many(artifacts, `SELECT * FROM artifacts WHERE repository_id = ?${prefix}`, params);
    // Sorted here: ORDER BY would follow PostgreSQL's locale collation, not SQLite's byte order.
    return rows.sort((a, b) => byCodeUnit(a.path, b.path));
  }

  async artifactsGeneration(repositoryId: string): Promise<number | undefined> {
    const row = await this.db.get('SELECT artifacts_generation FROM repositories WHERE id = ?', [repositoryId]);
    return row && toNumber(row.artifacts_generation, 'repositories.artifacts_generation');
  }

  async insertArtifact(artifact: NewArtifact): Promise<ArtifactRow> {
    const now = timestamp();
    const inserted = await this.insert(artifacts, { ...artifact, parsed_by: artifact.parsed_by ?? null, created_at: now, updated_at: now });
    await this.moveArtifactsGeneration(artifact.repository_id);
    return inserted;
  }

  async replaceArtifact(artifact: NewArtifact): Promise<ArtifactRow | undefined> {
    const fields = encode(artifacts, { ...artifact, parsed_by: artifact.parsed_by ?? null, updated_at: timestamp() }, true);
    const updated = await this.db.get(
      `UPDATE artifacts SET ${fields.map(([column]) => `${column} = ?`).join(', ')} WHERE repository_id = ? AND path = ? RETURNING *`,
      [...fields.map(([, value]) => value), artifact.repository_id, artifact.path],
    );
    await this.moveArtifactsGeneration(artifact.repository_id);
    return updated && decode(artifacts, updated);
  }

  async hasArtifactsNotParsedBy(repositoryId: string, parserId: string): Promise<boolean> {
    const row = await this.db.get(
      'SELECT 1 AS found FROM artifacts WHERE repository_id = ? AND (parsed_by IS NULL OR parsed_by <> ?) LIMIT 1',
      [repositoryId, parserId],
    );
    return row !== undefined;
  }

  async updateArtifactParse(
    id: string,
    checksumSha256: string,
    parse: Pick<ArtifactRow, 'version' | 'content_type' | 'metadata' | 'parsed_by'>,
  ): Promise<boolean> {
    const changed = await this.db.run(
      'UPDATE artifacts SET version = ?, content_type = ?, metadata = ?, parsed_by = ? WHERE id = ? AND checksum_sha256 = ?',
      [parse.version, parse.content_type, JSON.stringify(parse.metadata), parse.parsed_by, id, checksumSha256],
    );
    // The /ext artifact list shows the parse: its generation moves (after the row: see below).
    if (changed > 0) await this.db.run('UPDATE repositories SET artifacts_generation = artifacts_generation + 1 WHERE id = (SELECT repository_id FROM artifacts WHERE id = ?)', [id]);
    return changed > 0;
  }

  async forgetArtifactParses(repositoryId: string): Promise<number> {
    return this.db.run('UPDATE artifacts SET parsed_by = NULL WHERE repository_id = ?', [repositoryId]);
  }

  async deleteArtifact(repositoryId: string, path: string): Promise<ArtifactRow | undefined> {
    const deleted = await this.db.get('DELETE FROM artifacts WHERE repository_id = ? AND path = ? RETURNING *', [repositoryId, path]);
    await this.moveArtifactsGeneration(repositoryId);
    return deleted && decode(artifacts, deleted);
  }

  async lockBlob(sha256: string): Promise<void> {
    // An upsert locks the row whether it inserts or updates (PostgreSQL waits for another
    // transaction's lock on it, or for its insert of it); SQLite's writer lock covers it.
    await this.db.run('INSERT INTO blobs (sha256, locked_at) VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE SET locked_at = excluded.locked_at', [
      sha256,
      timestamp(),
    ]);
  }

  async pinBlob(pin: BlobPin): Promise<void> {
    await this.db.run('INSERT INTO blob_pins (id, sha256, node_id, expires_at) VALUES (?, ?, ?, ?)', [pin.id, pin.sha256, pin.node_id, pin.expires_at]);
  }

  async unpinBlob(id: string): Promise<void> {
    await this.db.run('DELETE FROM blob_pins WHERE id = ?', [id]);
  }

  async blobInUse(sha256: string): Promise<boolean> {
    const row = await this.db.get(
      `SELECT 1 AS used FROM blob_pins WHERE sha256 = ? AND expires_at > ${this.db.clock}
       UNION ALL SELECT 1 AS used FROM artifacts WHERE checksum_sha256 = ?
       UNION ALL SELECT 1 AS used FROM index_files WHERE checksum_sha256 = ? LIMIT 1`,
      [sha256, sha256, sha256],
    );
    return row !== undefined;
  }

  async forgetBlob(sha256: string): Promise<void> {
    await this.db.run('DELETE FROM blobs WHERE sha256 = ?', [sha256]);
  }

  async unusedBlobs(limit: number): Promise<string[]> {
    const rows = await this.db.all(
      `SELECT sha256 FROM blobs b
       WHERE NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.sha256 = b.sha256 AND p.expires_at > ${this.db.clock})
         AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.checksum_sha256 = b.sha256)
         AND NOT EXISTS (SELECT 1 FROM index_files i WHERE i.checksum_sha256 = b.sha256)
       LIMIT ?`,
      [limit],
    );
    return rows.map((row) => String(row.sha256));
  }

  async repositoryBlobs(repositoryId: string): Promise<string[]> {
    const rows = await this.db.all(
      'SELECT checksum_sha256 FROM artifacts WHERE repository_id = ? UNION SELECT checksum_sha256 FROM index_files WHERE repository_id = ?',
      [repositoryId, repositoryId],
    );
    return rows.map((row) => String(row.checksum_sha256));
  }

  getIndexFile(repositoryId: string, path: string): Promise<IndexFileRow | undefined> {
    return this.one(indexFiles, 'SELECT * FROM index_files WHERE repository_id = ? AND path = ?', [repositoryId, path]);
  }

  async listIndexFiles(repositoryId: string): Promise<IndexFileRow[]> {
    const rows = await this.many(indexFiles, 'SELECT * FROM index_files WHERE repository_id = ?', [repositoryId]);
    return rows.sort((a, b) => byCodeUnit(a.path, b.path));
  }

  async replaceIndexFiles(repositoryId: string, files: IndexFileRow[]): Promise<void> {
    await this.db.run('DELETE FROM index_files WHERE repository_id = ?', [repositoryId]);
    for (const file of files) await this.insert(indexFiles, file);
  }

  async databaseTime(): Promise<string> {
    const row = await this.db.get(`SELECT ${this.db.clock} AS now`);
    if (typeof row?.now !== 'string') throw new Error('the database did not tell its time');
    return row.now;
  }

  getClusterNode(nodeId: string): Promise<ClusterNodeRow | undefined> {
    return this.one(clusterNodes, 'SELECT * FROM cluster_nodes WHERE node_id = ?', [nodeId]);
  }

  listClusterNodes(): Promise<ClusterNodeRow[]> {
    return this.many(clusterNodes, 'SELECT * FROM cluster_nodes ORDER BY node_id', []);
  }

  async putClusterNode(node: NewClusterNode): Promise<ClusterNodeRow> {
    const row = await this.db.get(
      `INSERT INTO cluster_nodes (node_id, incarnation, url, version, state, started_at, last_seen_at)
       VALUES (?, ?, ?, ?, 'up', ${this.db.clock}, ${this.db.clock})
       ON CONFLICT (node_id) DO UPDATE SET incarnation = excluded.incarnation, url = excluded.url,
         version = excluded.version, state = 'up', started_at = excluded.started_at, last_seen_at = excluded.last_seen_at
       RETURNING *`,
      [node.node_id, node.incarnation, node.url, node.version],
    );
    if (!row) throw new Error('INSERT INTO cluster_nodes returned no row');
    return decode(clusterNodes, row);
  }

  async touchClusterNode(nodeId: string, incarnation: string): Promise<boolean> {
    const changed = await this.db.run(`UPDATE cluster_nodes SET last_seen_at = ${this.db.clock} WHERE node_id = ? AND incarnation = ?`, [
      nodeId,
      incarnation,
    ]);
    return changed > 0;
  }

  async markClusterNodeLeaving(nodeId: string, incarnation: string): Promise<boolean> {
    const changed = await this.db.run(
      `UPDATE cluster_nodes SET state = 'leaving', last_seen_at = ${this.db.clock} WHERE node_id = ? AND incarnation = ?`,
      [nodeId, incarnation],
    );
    return changed > 0;
  }

  async deleteClusterNodesSeenBefore(cutoff: string, keep: string): Promise<string[]> {
    const rows = await this.db.all('DELETE FROM cluster_nodes WHERE last_seen_at < ? AND node_id <> ? RETURNING node_id', [cutoff, keep]);
    return rows.map((row) => String(row.node_id));
  }

  private async one<T>(table: Table<T>, sql: string, params: readonly SqlValue[]): Promise<T | undefined> {
    const row = await this.db.get(sql, params);
    return row && decode(table, row);
  }

  private async many<T>(table: Table<T>, sql: string, params: readonly SqlValue[]): Promise<T[]> {
    return (await this.db.all(sql, params)).map((row) => decode(table, row));
  }

  /**
   * After the artifact write it goes with: in a transaction both show at once; outside one, a
   * reader may see the new rows under the old number (read again at the next request), never
   * the old rows under the new one.
   */
  private async moveArtifactsGeneration(repositoryId: string): Promise<void> {
    await this.db.run('UPDATE repositories SET artifacts_generation = artifacts_generation + 1 WHERE id = ?', [repositoryId]);
  }

  /** `sql` selects one row with the count as `n`. */
  private async count(sql: string, params: readonly SqlValue[]): Promise<number> {
    return toNumber((await this.db.get(sql, params))?.n, 'COUNT(*)');
  }

  private async insert<T>(table: Table<T>, row: T): Promise<T> {
    const fields = encode(table, row);
    const inserted = await this.db.get(
      `INSERT INTO ${table.name} (${fields.map(([column]) => column).join(', ')})
       VALUES (${fields.map(() => '?').join(', ')}) RETURNING *`,
      fields.map(([, value]) => value),
    );
    if (!inserted) throw new Error(`INSERT INTO ${table.name} returned no row`);
    return decode(table, inserted);
  }

  /**
   * Inserts a per-node row of a plugin, replacing the one with the same `key`, unless the
   * plugin is gone (uninstalled by another node meanwhile): then nothing is written.
   */
  private async insertIfPluginExists<T extends { plugin_id: string }>(table: Table<T>, row: T, key?: string[]): Promise<void> {
    const fields = encode(table, row);
    const columns = fields.map(([column]) => column);
    // Typed placeholders: PostgreSQL types a SELECT's parameters as text, not by the target
    // columns as it does for VALUES. The WHERE keeps SQLite from reading ON CONFLICT as a join's ON.
    const kinds = table.columns as Record<string, string>;
    const cast = (column: string) => (kinds[column]!.endsWith('real') ? 'DOUBLE PRECISION' : kinds[column]!.endsWith('integer') ? 'BIGINT' : 'TEXT');
    const upsert = key
      ? ` ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${columns.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`).join(', ')}`
      : '';
    await this.db.run(
      `INSERT INTO ${table.name} (${columns.join(', ')})
       SELECT ${columns.map((column) => `CAST(? AS ${cast(column)})`).join(', ')} WHERE EXISTS (SELECT 1 FROM plugins WHERE id = ?)${upsert}`,
      [...fields.map(([, value]) => value), row.plugin_id],
    );
  }

  /** Sets the patch's columns (fixed ones excepted) and `updated_at` on the row whose `key` is `keyValue`. */
  private async update<T extends { updated_at: string }>(
    table: Table<T>,
    key: Extract<keyof T, string>,
    keyValue: string,
    patch: Partial<T>,
  ): Promise<T | undefined> {
    const fields = encode(table, { ...patch, updated_at: timestamp() }, true);
    const updated = await this.db.get(
      `UPDATE ${table.name} SET ${fields.map(([column]) => `${column} = ?`).join(', ')} WHERE ${key} = ? RETURNING *`,
      [...fields.map(([, value]) => value), keyValue],
    );
    return updated && decode(table, updated);
  }
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** ` WHERE a = ? AND b = ?` over the filters that are set, with their values. */
function where(filters: Array<[column: string, value: SqlValue | undefined]>): { sql: string; params: SqlValue[] } {
  const set = filters.filter((filter): filter is [string, SqlValue] => filter[1] !== undefined);
  return {
    sql: set.length === 0 ? '' : ` WHERE ${set.map(([column]) => `${column} = ?`).join(' AND ')}`,
    params: set.map(([, value]) => value),
  };
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number from 1, got ${value}`);
}
