-- Repositories: named collections of artifacts of one format. Portable SQL for SQLite and
-- PostgreSQL; see README.md.
--
-- `key` names a repository in URLs: ^[a-z0-9][a-z0-9._-]{0,63}$ (lowercase letters, digits,
-- '.', '_' and '-', starting with a letter or digit, at most 64 characters). The pattern is
-- enforced by the repositories service; the database checks what portable SQL can (length).
--
-- `format` is a format key with no foreign key to format_handlers: a repository outlives
-- its format's plugin when that plugin is uninstalled with force=true, and stays readable.
CREATE TABLE repositories (
  id          TEXT PRIMARY KEY,
  key         TEXT NOT NULL UNIQUE CHECK (length(key) BETWEEN 1 AND 64),
  format      TEXT NOT NULL,
  description TEXT,
  public      INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- For the repositories of a format (uninstall's dependency check, repository_count, ?format=).
CREATE INDEX repositories_format_idx ON repositories (format);
