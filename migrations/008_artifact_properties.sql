-- Format interface 1.1: artifact properties, re-parsing when a repository's handler changes,
-- indexes rebuilt when PUBLIC_URL changes. Portable SQL for SQLite and PostgreSQL; see README.md.
--
-- Properties (strings the server stores and never parses) live in `artifacts.metadata`, the
-- JSON record the handler returned, as its `properties` object.
--
-- `parsed_by` names the handler whose parse-metadata produced a row's metadata: `core:<format>@<server
-- version>` or `wasm:<component SHA-256>`. A row whose handler is no longer the one serving its
-- repository (a reload, a plugin replacing a core handler, an admin's reparse) is parsed again
-- by the next index run, which holds the repository's lock. NULL: rows stored before this
-- migration, re-parsed the same way.
ALTER TABLE artifacts ADD COLUMN parsed_by TEXT;

-- The base URL (PUBLIC_URL) the last index run handed the handler: indexes with absolute URLs
-- are rebuilt when it changes. NULL: no run since this migration.
ALTER TABLE repositories ADD COLUMN index_base_url TEXT;
