-- A repository's artifact list changes: moved in the same transaction as every artifact
-- insert, replace and delete, so a node may keep the list (what /ext hands its plugin)
-- as long as the number it was read under is still the repository's.
ALTER TABLE repositories ADD COLUMN artifacts_generation BIGINT NOT NULL DEFAULT 0;
