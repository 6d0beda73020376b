/**
 * Command-line parsing shared by the author and the operators' commands (ops/): node:util's
 * parseArgs in strict mode, with its complaints (and surplus arguments) turned into usage errors.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../command.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandLine<const O extends Options>(args: string[], options: O, maxPositionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return parsed;
}
