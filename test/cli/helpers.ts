// Running the real `plugin-keeper` bin (dist/cli/main.js) as a user would, with an
// environment of its own: no PLUGINS_* or DATABASE_URL of the machine running the tests leaks in.
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/fixtures.js';

export const BIN = path.join(repoRoot, 'dist', 'cli', 'main.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function pluginKeeper(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TMPDIR: tmpdir(), ...options.env },
    extendEnv: false,
    reject: false,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

