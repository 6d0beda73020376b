-- Desired state and actual state, for several supervisors ("nodes") on one database.
--
-- The plugin rows are the cluster's desired state. `generation` counts the admin's changes
-- to a plugin (install, enable, disable, reload, limits): a node that recorded a failure
-- or a quarantine at one generation tries again when the plugin reaches a newer one.
-- A crash or a failed start never writes the plugin row: only the node's own state row.
ALTER TABLE plugins ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;

-- Status `error` was written by crashes and failed starts; it now lives on the nodes' rows.
-- A plugin marked so was meant to be active: every node tries it again.
UPDATE plugins SET status = 'active', error_message = NULL WHERE status = 'error';

-- The node whose processes an event is about (crashes, restarts, quarantine, limits, start
-- failures); null for cluster-wide events (installed, reloaded, disabled...).
ALTER TABLE plugin_events ADD COLUMN node_id TEXT;

-- Each node's actual state of each plugin, written by that node only.
CREATE TABLE plugin_node_states (
  plugin_id     TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
  node_id       TEXT NOT NULL REFERENCES cluster_nodes (node_id) ON DELETE CASCADE,
  -- The version running, being started, or that failed.
  version       TEXT NOT NULL,
  -- The plugin's generation this state answers.
  generation    INTEGER NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopped', 'error', 'quarantined')),
  -- JSON array of process ids.
  pids          TEXT NOT NULL,
  error_message TEXT,
  updated_at    TEXT NOT NULL,
  PRIMARY KEY (plugin_id, node_id)
);

CREATE INDEX plugin_node_states_node_id_idx ON plugin_node_states (node_id);

-- Each node's plugin processes, as the processes endpoint shows them: rewritten by the node
-- at every heartbeat and at each change, so any node answers for all. `slot` numbers a
-- plugin version's instances (a restarting one has no pid).
CREATE TABLE plugin_processes (
  node_id           TEXT NOT NULL REFERENCES cluster_nodes (node_id) ON DELETE CASCADE,
  plugin_id         TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
  slot              INTEGER NOT NULL,
  pid               INTEGER,
  version           TEXT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('starting', 'ready', 'draining', 'stopped')),
  started_at        TEXT,
  rss_bytes         BIGINT,
  cpu_percent       DOUBLE PRECISION,
  wasm_memory_bytes BIGINT,
  in_flight         INTEGER NOT NULL,
  calls_total       BIGINT NOT NULL,
  errors_total      BIGINT NOT NULL,
  restarts          INTEGER NOT NULL,
  -- JSON {code, signal, reason} or NULL.
  last_exit         TEXT,
  updated_at        TEXT NOT NULL,
  PRIMARY KEY (node_id, plugin_id, slot)
);

CREATE INDEX plugin_processes_plugin_id_idx ON plugin_processes (plugin_id);
