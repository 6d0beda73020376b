-- Cluster-safe blob removal and index runs. Portable SQL for SQLite and PostgreSQL; see README.md.
--
-- A blob (supervisor/blobs/) is removed only when no row names it and no node may still
-- commit one that does. `blobs` holds one row per blob that was pinned or examined for
-- removal: the row both take a lock on (an upsert), so that a pin and a removal of the same
-- blob never interleave. `blob_pins`: a node writing rows that will name a blob pins it
-- before putting the bytes and unpins it once the rows are committed; a pin of a node that
-- died lapses at `expires_at`. Rows of artifacts and index files are not tied to `blobs`
-- by a foreign key: data from before this migration has no rows here.
CREATE TABLE blobs (
  sha256    TEXT PRIMARY KEY CHECK (length(sha256) = 64),
  locked_at TEXT NOT NULL
);

CREATE TABLE blob_pins (
  id         TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
  node_id    TEXT NOT NULL,
  expires_at TEXT NOT NULL
);

CREATE INDEX blob_pins_sha256_idx ON blob_pins (sha256);

-- Index runs across nodes: each request for a run (after its artifact row is committed)
-- takes the next `index_requested`; a run reads it when it starts and, when over, records
-- it as `index_built`. A request is served once `index_built` reaches its number,
-- whichever node ran it.
ALTER TABLE repositories ADD COLUMN index_requested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN index_built BIGINT NOT NULL DEFAULT 0;
