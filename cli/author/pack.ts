/**
 * `plugin-keeper pack`: the ZIP a server installs (POST /plugins/install/zip). The folder is
 * first checked with the server's own install checks (package-check.ts), under the server
 * settings of the environment; the ZIP is then made from the package reader's validated copy,
 * so it holds exactly what was checked: plugin.toml, the component, and plugin.wasm.sig when
 * the folder has one.
 */
import { createWriteStream } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { loadConfig } from '../../supervisor/config.js';
import { SIGNATURE_FILE } from '../../supervisor/services/install/signature.js';
import { type Command, CommandFailed } from '../command.js';
import { parseCommandLine } from './args.js';
import { checkPluginFolder } from './package-check.js';

export const packCommand: Command = {
  name: 'pack',
  summary: 'check a plugin as an install would and write its ZIP',
  usage: `usage: plugin-keeper pack [DIR] [--out FILE]

Checks the plugin in DIR (default: the current folder) with the server's install checks
(plugin.toml, the component's exports, imports and memory, the signature) and writes the
ZIP a server installs: plugin.toml, the component, and ${SIGNATURE_FILE} when present.

  --out FILE   the ZIP to write (default: DIR/<name>-<version>.zip); a regular file there is replaced

The checks use the server settings of the environment, as the server reads them:
PLUGINS_REQUIRE_SIGNED and PLUGINS_TRUSTED_PUBKEY (is the signature required, and valid?),
PLUGINS_DEFAULT_* and PLUGINS_MAX_* (the memory limit the component must fit),
PLUGINS_MAX_ZIP_MB (the largest upload).`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(args, { out: { type: 'string' } }, 1);
    const root = path.resolve(positionals[0] ?? '.');
    const { plugins } = loadConfig();
    const { pkg, warnings } = await checkPluginFolder(root, plugins);
    try {
      for (const warning of warnings) output.err(`warning: ${warning}`);
      const { name, version } = pkg.manifest.plugin;
      const zipFile = path.resolve(values.out ?? path.join(root, `${name}-${version}.zip`));
      const files = await listFiles(pkg.dir);
      const size = await writeZip(pkg.dir, files, zipFile, plugins.maxZipBytes);
      const signature = !files.includes(SIGNATURE_FILE)
        ? 'unsigned'
        : pkg.signature === 'verified'
          ? 'signature verified against PLUGINS_TRUSTED_PUBKEY'
          : 'signature not checked: no PLUGINS_TRUSTED_PUBKEY here';
      output.out(zipFile);
      output.err(`packed ${name} ${version}: ${files.join(', ')} (${size} bytes, ${signature})`);
      return 0;
    } finally {
      await pkg.cleanup();
    }
  },
};

/** Relative paths (with "/") of every file below `dir`, sorted, so the ZIP's order is stable. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

/**
 * Written beside the target and renamed into place once it is known to fit the server's
 * upload limit: a failed pack never leaves half a ZIP, nor replaces a good one. Returns its size.
 */
async function writeZip(dir: string, files: string[], zipFile: string, maxBytes: number): Promise<number> {
  // Renaming over /dev/null or a folder would replace it: only a regular file may be replaced.
  const existing = await stat(zipFile).catch(() => undefined);
  if (existing && !existing.isFile()) throw new CommandFailed(`${zipFile} exists and is not a regular file; give --out a file path`);
  const zip = new yazl.ZipFile();
  for (const file of files) zip.addBuffer(await readFile(path.join(dir, file)), file);
  zip.end();
  const temporary = `${zipFile}.${process.pid}.tmp`;
  try {
    await pipeline(zip.outputStream, createWriteStream(temporary));
    const { size } = await stat(temporary);
    if (size > maxBytes) {
      throw new CommandFailed(`the ZIP would be ${size} bytes; the server accepts uploads up to ${maxBytes} bytes (PLUGINS_MAX_ZIP_MB)`);
    }
    await rename(temporary, zipFile);
    return size;
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
