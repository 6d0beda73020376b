-- Artifacts and generated index files. Portable SQL for SQLite and PostgreSQL; see README.md.
--
-- The bytes of both live outside the database, content-addressed by SHA-256 under
-- <DATA_DIR>/blobs (supervisor/blobs/): a row names its blob by `checksum_sha256`, and a blob
-- no row names any more is removed by the artifacts service.
--
-- `path` is normalised by the artifacts service before it gets here (no '..', no leading
-- '/', no backslash, NUL or empty segment); the database checks its length.
CREATE TABLE artifacts (
  id              TEXT PRIMARY KEY,
  repository_id   TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  path            TEXT NOT NULL CHECK (length(path) BETWEEN 1 AND 1024),
  size_bytes      BIGINT NOT NULL CHECK (size_bytes >= 0),
  checksum_sha256 TEXT NOT NULL CHECK (length(checksum_sha256) = 64),
  version         TEXT,
  content_type    TEXT NOT NULL,
  -- The metadata record the format handler returned, as JSON.
  metadata        TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  UNIQUE (repository_id, path)
);

-- Whether a blob is still referenced, before removing it.
CREATE INDEX artifacts_checksum_idx ON artifacts (checksum_sha256);

-- The files a repository's handler generated with `generate-index`, replaced as a set.
CREATE TABLE index_files (
  repository_id   TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  path            TEXT NOT NULL CHECK (length(path) BETWEEN 1 AND 1024),
  size_bytes      BIGINT NOT NULL CHECK (size_bytes >= 0),
  checksum_sha256 TEXT NOT NULL CHECK (length(checksum_sha256) = 64),
  content_type    TEXT NOT NULL,
  PRIMARY KEY (repository_id, path)
);

CREATE INDEX index_files_checksum_idx ON index_files (checksum_sha256);

-- The last index run: when it succeeded, and why the latest one failed (NULL when it did not).
ALTER TABLE repositories ADD COLUMN index_generated_at TEXT;
ALTER TABLE repositories ADD COLUMN index_error TEXT;
