#!/usr/bin/env node
/**
 * `plugin-keeper`: the operator's command line. It reads the same environment as the
 * supervisor (DATA_DIR, DATABASE_URL...), so it works on the supervisor's own store.
 */
import { ConfigError, loadConfig } from '../supervisor/config.js';
import { TokenService } from '../supervisor/services/tokens.js';
import { openStore } from '../supervisor/store/open.js';
import { DatabaseUnavailable } from '../supervisor/store/store.js';
import { UsageError, parseTokenCommand, runTokenCommand, type Output } from './tokens.js';

const USAGE = `usage:
  plugin-keeper token create --role reader|admin [--name NAME]   prints the new token once
  plugin-keeper token list
  plugin-keeper token revoke ID`;

const output: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

async function main(args: string[]): Promise<number> {
  const [group, ...rest] = args;
  if (group === 'help' || group === '--help' || group === '-h') {
    output.out(USAGE);
    return 0;
  }
  if (group !== 'token') throw new UsageError(group === undefined ? 'missing command' : `unknown command "${group}"`);
  const command = parseTokenCommand(rest);
  const config = loadConfig();
  const store = await openStore(config);
  try {
    return await runTokenCommand(command, new TokenService(store, config), output);
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      output.err(`plugin-keeper: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      // Expected failures read as a sentence; anything else with its stack, for a bug report.
      const expected = error instanceof ConfigError || error instanceof DatabaseUnavailable;
      output.err(`plugin-keeper: ${expected ? error.message : (error instanceof Error && error.stack) || String(error)}`);
      process.exitCode = 1;
    }
  },
);
