/**
 * `plugin-keeper new`: a working TypeScript plugin package, from the template kept beside
 * this module (template/, every file a `.tmpl` so the repository's own tsconfig never
 * compiles it). The rendered plugin.toml goes through the server's manifest validation
 * before anything is written, so a bad name or format key is refused with the same words an
 * install would use, and a scaffold always starts out valid.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkManifest } from '../../supervisor/services/install/manifest.js';
import { MANIFEST_FILE } from '../../supervisor/services/install/package.js';
import { type Command, CommandFailed, UsageError } from '../command.js';
import { parseCommandLine } from './args.js';
import { generateWitTypes, type PluginWorld } from './wit-types.js';

/** This file runs as dist/cli/author/new.js; the template stays with the sources. */
const TEMPLATE_DIR = fileURLToPath(new URL('../../../cli/author/template/', import.meta.url));
const TEMPLATE_SUFFIX = '.tmpl';
/** Template files stored under another name: a real .gitignore would apply to the template folder itself. */
const RENAMED: Record<string, string> = { gitignore: '.gitignore' };
const TYPES_DIR = 'types';

export const newCommand: Command = {
  name: 'new',
  summary: 'scaffold a TypeScript plugin package',
  usage: `usage: plugin-keeper new NAME [--dir PARENT] [--format-key KEY] [--v2]

Creates the folder PARENT/NAME with a working plugin written in TypeScript: plugin.toml,
src/index.ts (validate, parse-metadata and generate-index for an example JSON format),
types/ (the plugin interface's declarations, generated from the WIT), test/sample.json,
package.json (build, test and package scripts calling plugin-keeper), tsconfig.json, README.md.

  --dir PARENT       where to create the folder (default: the current folder)
  --format-key KEY   the format the plugin serves (default: NAME)
  --v2               also serve the format's native protocol: handle-request, world format-plugin-v2

NAME and KEY follow plugin.toml's rules (lowercase letters, digits and "-", starting with a
letter). The folder must not exist, or be empty.`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      { dir: { type: 'string' }, 'format-key': { type: 'string' }, v2: { type: 'boolean' } },
      1,
    );
    const name = positionals[0];
    if (name === undefined) throw new UsageError('new needs the plugin name');
    const v2 = values.v2 === true;
    const world: PluginWorld = v2 ? 'format-plugin-v2' : 'format-plugin';
    const placeholders = {
      name,
      formatKey: values['format-key'] ?? name,
      displayName: displayName(name),
      handleRequest: String(v2),
      world,
    };
    const files = await renderTemplate(placeholders, { v2 });

    const problems = checkManifest(files.get(MANIFEST_FILE)!).problems;
    if (problems.length > 0) {
      const hint = values['format-key'] === undefined && problems.some((problem) => problem.field === 'format.key') ? ' (choose one with --format-key)' : '';
      throw new UsageError(`${problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ')}${hint}`);
    }
    for (const [file, text] of await generateWitTypes(world)) files.set(path.posix.join(TYPES_DIR, file), text);

    const target = path.resolve(values.dir ?? '.', name);
    await ensureEmptyFolder(target);
    for (const [file, text] of files) {
      await mkdir(path.dirname(path.join(target, file)), { recursive: true });
      // 'wx': never overwrite, even what appeared in the folder since it was checked.
      await writeFile(path.join(target, file), text, { flag: 'wx' });
    }

    output.out(target);
    output.err(`created the plugin ${name} (format ${placeholders.formatKey}, world ${world}) in ${target}:`);
    for (const file of [...files.keys()].sort()) output.err(`  ${file}`);
    output.err(`next: cd ${path.relative(process.cwd(), target) || '.'} && plugin-keeper build && plugin-keeper test . test/sample.json`);
    return 0;
  },
};

/** "my-format" → "My Format": a readable default for the display names. */
function displayName(name: string): string {
  return name
    .split('-')
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join(' ');
}

/** Every template file rendered, by its path in the new package (with "/"). */
async function renderTemplate(placeholders: Record<string, string>, sections: Record<string, boolean>): Promise<Map<string, string>> {
  const entries = await readdir(TEMPLATE_DIR, { recursive: true, withFileTypes: true });
  const files = new Map<string, string>();
  for (const entry of entries.filter((candidate) => candidate.isFile() && candidate.name.endsWith(TEMPLATE_SUFFIX))) {
    const source = path.join(entry.parentPath, entry.name);
    const relative = path.relative(TEMPLATE_DIR, source).split(path.sep).join('/').slice(0, -TEMPLATE_SUFFIX.length);
    files.set(RENAMED[relative] ?? relative, render(await readFile(source, 'utf8'), placeholders, sections, relative));
  }
  return files;
}

/**
 * `{{key}}` is replaced by its value; `{{#section}}...{{/section}}` is kept only when the
 * section is on (a newline right after either tag goes with it, so tags may sit on lines of
 * their own). An unknown placeholder is a mistake in the template, not something to ship.
 */
function render(text: string, placeholders: Record<string, string>, sections: Record<string, boolean>, file: string): string {
  const withSections = text.replace(/\{\{#(\w+)\}\}\n?([\s\S]*?)\{\{\/\1\}\}\n?/g, (_match, section: string, body: string) => {
    if (!(section in sections)) throw new Error(`template ${file}: unknown section "${section}"`);
    return sections[section] ? body : '';
  });
  return withSections.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => {
    const value = placeholders[key];
    if (value === undefined) throw new Error(`template ${file}: unknown placeholder "${key}"`);
    return value;
  });
}

async function ensureEmptyFolder(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new CommandFailed(`${target} exists and is not a folder`);
    throw error;
  }
  if (entries.length > 0) throw new CommandFailed(`${target} already exists and is not empty; choose another name or --dir`);
}
