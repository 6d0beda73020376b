-- A plugin serving a core format key (installed with `replace_core`): the core row stays and
-- names the plugin. While that plugin is active it serves the key on every node; disabled,
-- the core handler does; uninstalled, the reference goes (SET NULL) and the core handler
-- serves alone again. At most one plugin per key: the install claims a NULL reference.
ALTER TABLE format_handlers ADD COLUMN replaced_by TEXT REFERENCES plugins (id) ON DELETE SET NULL;
