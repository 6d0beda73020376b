#!/usr/bin/env node
/**
 * `plugin-keeper`: the operator's and the plugin author's command line. This file only
 * dispatches: each command lives in its own module. tokens.ts and author/*.ts read the same
 * environment as the supervisor (DATA_DIR, DATABASE_URL, PLUGINS_*...); ops/*.ts talk to a
 * running service over REST (PLUGIN_KEEPER_URL, PLUGIN_KEEPER_TOKEN).
 */
import { ConfigError } from '../supervisor/config.js';
import { DatabaseUnavailable } from '../supervisor/store/store.js';
import { authorCommands } from './author/index.js';
import { type Command, CommandFailed, type Output, UsageError } from './command.js';
import { opsCommands } from './ops/index.js';
import { tokenCommand } from './tokens.js';

const COMMANDS: readonly Command[] = [...opsCommands, tokenCommand, ...authorCommands];

const OVERVIEW = [
  'usage: plugin-keeper <command> [arguments]    (plugin-keeper <command> --help for its options)',
  '',
  ...COMMANDS.map((command) => `  ${command.name.padEnd(8)} ${command.summary}`),
].join('\n');

const output: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';

async function main(command: Command | undefined, args: string[]): Promise<number> {
  if (command === undefined) {
    if (!isHelp(args[0])) throw new UsageError(args[0] === undefined ? 'missing command' : `unknown command "${args[0]}"`);
    output.out(OVERVIEW);
    return 0;
  }
  if (args.some((arg) => arg === '--help' || arg === '-h')) {
    output.out(command.usage);
    return 0;
  }
  return command.run(args, output);
}

// `plugin-keeper logs x -f | head`: once the reader stops reading, end quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

const [name, ...rest] = process.argv.slice(2);
const command = COMMANDS.find((candidate) => candidate.name === name);

main(command, command ? rest : process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      output.err(`plugin-keeper: ${error.message}\n${command?.usage ?? OVERVIEW}`);
      process.exitCode = 2;
    } else if (error instanceof CommandFailed) {
      output.err([`plugin-keeper: ${error.message}`, ...error.details.map((detail) => `  - ${detail}`)].join('\n'));
      process.exitCode = error.exitStatus;
    } else {
      // Expected failures read as a sentence; anything else with its stack, for a bug report.
      const expected = error instanceof ConfigError || error instanceof DatabaseUnavailable;
      output.err(`plugin-keeper: ${expected ? error.message : (error instanceof Error && error.stack) || String(error)}`);
      process.exitCode = 1;
    }
  },
);
