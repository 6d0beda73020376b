-- The supervisor's own state: plugins, their binaries, format handlers (the 13 core ones
-- seeded), the plugin event log and API tokens. Portable SQL for SQLite and PostgreSQL;
-- see README.md. Ids are lowercase UUID text, timestamps RFC 3339 UTC text, objects and
-- arrays JSON text, booleans INTEGER 0/1.

-- A plugin version's component, stored once per content. SQLite gives the BYTEA type name
-- NUMERIC affinity, which leaves blobs as they are.
CREATE TABLE plugin_binaries (
  sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
  wasm       BYTEA NOT NULL,
  size_bytes BIGINT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE plugins (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  version         TEXT NOT NULL,
  display_name    TEXT,
  description     TEXT,
  author          TEXT,
  homepage        TEXT,
  license         TEXT,
  status          TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'error')),
  plugin_type     TEXT NOT NULL CHECK (plugin_type IN ('format_handler')),
  source_type     TEXT NOT NULL CHECK (source_type IN ('core', 'wasm_git', 'wasm_zip', 'wasm_local')),
  source_url      TEXT,
  source_ref      TEXT,
  -- Git installs: the folder holding plugin.toml (monorepos of plugins).
  source_path     TEXT,
  resolved_commit TEXT,
  -- The version running now; its binary cannot be deleted while referenced.
  wasm_sha256     TEXT NOT NULL REFERENCES plugin_binaries (sha256),
  format_key      TEXT NOT NULL UNIQUE,
  capabilities    TEXT NOT NULL,
  resource_limits TEXT NOT NULL,
  limits_override TEXT,
  manifest        TEXT NOT NULL,
  error_message   TEXT,
  installed_at    TEXT NOT NULL,
  enabled_at      TEXT,
  updated_at      TEXT NOT NULL
);

-- For deleting binaries no plugin references any more.
CREATE INDEX plugins_wasm_sha256_idx ON plugins (wasm_sha256);

CREATE TABLE format_handlers (
  id           TEXT PRIMARY KEY,
  format_key   TEXT NOT NULL UNIQUE,
  -- A plugin's handler goes with the plugin.
  plugin_id    TEXT REFERENCES plugins (id) ON DELETE CASCADE,
  handler_type TEXT NOT NULL CHECK (handler_type IN ('core', 'wasm')),
  display_name TEXT NOT NULL,
  description  TEXT,
  extensions   TEXT NOT NULL,
  is_enabled   INTEGER NOT NULL CHECK (is_enabled IN (0, 1)),
  priority     INTEGER NOT NULL DEFAULT 0,
  capabilities TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  CHECK ((handler_type = 'core' AND plugin_id IS NULL) OR (handler_type = 'wasm' AND plugin_id IS NOT NULL))
);

CREATE INDEX format_handlers_plugin_id_idx ON format_handlers (plugin_id);

-- The audit log: no foreign key, so that a plugin's events outlive it.
CREATE TABLE plugin_events (
  id         TEXT PRIMARY KEY,
  plugin_id  TEXT NOT NULL,
  event_type TEXT NOT NULL,
  severity   TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
  message    TEXT NOT NULL,
  details    TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE INDEX plugin_events_plugin_id_created_at_idx ON plugin_events (plugin_id, created_at);

-- Tokens are kept as hashes only; revoked ones stay for the record.
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('admin', 'reader')),
  token_hash   TEXT NOT NULL UNIQUE,
  created_at   TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at   TEXT
);

-- The core handlers, with fixed ids so that every installation names them alike. Core
-- handlers parse and validate their artifacts and generate the index files of formats
-- that have one; native client protocols (handle_request) are served by plugins.
-- The timestamp is the migration's time: CURRENT_TIMESTAMP reads "YYYY-MM-DD HH:MM:SS..."
-- in UTC on both engines (the PostgreSQL driver sets every session's time zone to UTC).
INSERT INTO format_handlers
  (id, format_key, plugin_id, handler_type, display_name, description, extensions,
   is_enabled, priority, capabilities, created_at, updated_at)
SELECT core.column1, core.column2, NULL, 'core', core.column3, core.column4, core.column5,
       1, 0, core.column6, stamp.now, stamp.now
FROM (VALUES
  ('00000000-0000-4000-8000-000000000001', 'maven', 'Maven',
   'Maven 2 repositories: JARs, POMs and maven-metadata.xml',
   '[".jar",".war",".ear",".aar",".pom"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000002', 'npm', 'npm',
   'npm packages (package tarballs and packuments)',
   '[".tgz"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000003', 'pypi', 'PyPI',
   'Python wheels and source distributions, with a simple index',
   '[".whl",".tar.gz",".zip"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000004', 'nuget', 'NuGet',
   '.NET packages',
   '[".nupkg",".snupkg"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000005', 'cargo', 'Cargo',
   'Rust crates, with a sparse registry index',
   '[".crate"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000006', 'go', 'Go',
   'Go modules (module zips, go.mod and .info files)',
   '[".zip",".mod",".info"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000007', 'oci', 'OCI',
   'OCI and Docker images and artifacts (manifests and blobs, addressed by digest)',
   '[]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":false,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000008', 'helm', 'Helm',
   'Helm charts, with index.yaml',
   '[".tgz",".prov"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-000000000009', 'debian', 'Debian',
   'Debian packages, with Packages and Release indexes',
   '[".deb",".udeb",".dsc"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-00000000000a', 'rpm', 'RPM',
   'RPM packages, with repodata',
   '[".rpm"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-00000000000b', 'rubygems', 'RubyGems',
   'Ruby gems, with the specs indexes',
   '[".gem"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":true,"handle_request":false}'),
  ('00000000-0000-4000-8000-00000000000c', 'conan', 'Conan',
   'C and C++ packages for Conan',
   '[".tgz"]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":false,"handle_request":false}'),
  ('00000000-0000-4000-8000-00000000000d', 'generic', 'Generic',
   'Any file, stored as it is',
   '[]',
   '{"parse_metadata":true,"validate_artifact":true,"generate_index":false,"handle_request":false}')
) AS core
CROSS JOIN (
  SELECT replace(substr(CAST(CURRENT_TIMESTAMP AS TEXT), 1, 19), ' ', 'T') || '.000Z' AS now
) AS stamp;
