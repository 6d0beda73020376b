/**
 * `plugin-keeper token ...`: create, list and revoke API tokens. Parsing is kept apart from
 * running, so a usage mistake is reported before the database is opened.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../supervisor/config.js';
import { TokenService, type TokenView } from '../supervisor/services/tokens.js';
import { openStore } from '../supervisor/store/open.js';
import { ROLES, type Role } from '../supervisor/store/store.js';
import { type Command, type Output, UsageError } from './command.js';
import { renderTable } from './ops/table.js';

export type TokenCommand =
  | { action: 'create'; role: Role; name: string }
  | { action: 'list' }
  | { action: 'revoke'; id: string };

// Part of this module's interface: parseTokenCommand throws UsageError.
export { UsageError };

/** `plugin-keeper token ...`, on the supervisor's own store (same DATA_DIR, DATABASE_URL...). */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'create, list and revoke API tokens',
  usage: `usage:
  plugin-keeper token create --role reader|admin [--name NAME]   prints the new token once
  plugin-keeper token list
  plugin-keeper token revoke ID`,
  async run(args, output) {
    const command = parseTokenCommand(args);
    const config = loadConfig();
    const store = await openStore(config);
    try {
      return await runTokenCommand(command, new TokenService(store, config), output);
    } finally {
      await store.close();
    }
  },
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseTokenCommand(args: string[]): TokenCommand {
  const [action, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { role: { type: 'string' }, name: { type: 'string' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const noExtras = (allowed: number) => {
    if (positionals.length > allowed) throw new UsageError(`unexpected argument "${positionals[allowed]}"`);
  };
  switch (action) {
    case 'create': {
      noExtras(0);
      const role = values.role as Role | undefined;
      if (!role || !ROLES.includes(role)) throw new UsageError(`--role must be ${ROLES.join(' or ')}`);
      if (values.name !== undefined && values.name.trim() === '') throw new UsageError('--name must not be empty');
      return { action: 'create', role, name: values.name ?? `${role} token` };
    }
    case 'list':
      if (values.role !== undefined || values.name !== undefined) throw new UsageError('token list takes no options');
      noExtras(0);
      return { action: 'list' };
    case 'revoke':
      if (values.role !== undefined || values.name !== undefined) throw new UsageError('token revoke takes no options');
      if (positionals.length === 0) throw new UsageError('token revoke needs the id of the token (see token list)');
      noExtras(1);
      if (!UUID.test(positionals[0]!)) throw new UsageError(`"${positionals[0]}" is not a token id (a UUID, see token list)`);
      return { action: 'revoke', id: positionals[0]!.toLowerCase() };
    default:
      throw new UsageError(action === undefined ? 'missing token command' : `unknown token command "${action}"`);
  }
}

/** Runs the command; resolves to the process exit status. */
export async function runTokenCommand(command: TokenCommand, tokens: TokenService, output: Output): Promise<number> {
  switch (command.action) {
    case 'create': {
      const created = await tokens.create({ role: command.role, name: command.name });
      // The token alone on stdout, so `TOKEN=$(plugin-keeper token create ...)` captures it.
      output.out(created.token);
      output.err(`created ${created.role} token "${created.name}" (id ${created.id}); it is shown only this once`);
      return 0;
    }
    case 'list':
      for (const line of table(await tokens.list())) output.out(line);
      return 0;
    case 'revoke':
      if (await tokens.revoke(command.id)) {
        output.err(`revoked token ${command.id}`);
        return 0;
      }
      output.err(`no active token has id ${command.id}`);
      return 1;
  }
}

function table(tokens: TokenView[]): string[] {
  const columns = ['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'REVOKED'].map((title) => ({ title }));
  return renderTable(
    columns,
    tokens.map((token) => [token.id, token.name, token.role, token.created_at, token.last_used_at ?? '-', token.revoked_at ?? '-']),
  );
}
