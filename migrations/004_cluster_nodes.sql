-- The supervisors ("nodes") sharing this database. A node inserts or takes over its row at
-- start (a new incarnation each time), refreshes last_seen_at at every heartbeat, and says
-- `leaving` when it stops cleanly. `lost` is not stored: it is a row whose last_seen_at is
-- older than the node timeout. Per-node runtime rows (plugin states, processes, logs)
-- reference this table with ON DELETE CASCADE, so pruning a long-lost node removes them.
CREATE TABLE cluster_nodes (
  node_id      TEXT PRIMARY KEY CHECK (length(node_id) BETWEEN 1 AND 63),
  -- New at every start: a node that finds another incarnation on its row knows two
  -- processes share one NODE_ID.
  incarnation  TEXT NOT NULL,
  url          TEXT,
  version      TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('up', 'leaving')),
  started_at   TEXT NOT NULL,
  last_seen_at TEXT NOT NULL
);
