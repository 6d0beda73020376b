-- Plugin log lines: what each plugin's processes wrote (the guest's stdout and stderr, and
-- the plugin host's own lines about it), kept per plugin so that any node answers for every
-- node. The node running a process writes its lines in batches (services/plugin-logs.ts);
-- each batch takes the plugin's counter row, which numbers its lines and keeps the byte
-- total the retention works from.

-- One row per plugin: the last sequence number given and the bytes of text kept. Updating
-- it in the batch's transaction serializes the writers of one plugin on every node, so
-- `seq` orders a plugin's lines across nodes without SERIAL (which SQLite lacks).
CREATE TABLE plugin_log_counters (
  plugin_id TEXT PRIMARY KEY REFERENCES plugins (id) ON DELETE CASCADE,
  last_seq  BIGINT NOT NULL,
  bytes     BIGINT NOT NULL
);

-- node_id is plain text, not a reference to cluster_nodes: a lost node's row is pruned,
-- and its last lines are the ones an operator most wants to read.
CREATE TABLE plugin_logs (
  plugin_id TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
  seq       BIGINT NOT NULL,
  time      TEXT NOT NULL,
  node_id   TEXT NOT NULL,
  pid       INTEGER,
  version   TEXT NOT NULL,
  stream    TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'host')),
  text      TEXT NOT NULL,
  -- UTF-8 length of text, for the byte retention.
  bytes     INTEGER NOT NULL,
  PRIMARY KEY (plugin_id, seq)
);

CREATE INDEX plugin_logs_plugin_id_time_idx ON plugin_logs (plugin_id, time);
