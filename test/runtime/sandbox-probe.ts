/**
 * Run inside the plugin sandbox by sandbox.test.ts: tries what a hostile plugin host would
 * try and prints, as one JSON line, what succeeded.
 * argv: <tcp port on 127.0.0.1 to dial> <file to write> <file outside the allowed paths to read>
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';

const [port, writeTarget, readTarget] = process.argv.slice(2);

function attempt(action: () => void): string {
  try {
    action();
    return 'allowed';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

const connect = await new Promise<string>((resolve) => {
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('connect', () => {
    socket.destroy();
    resolve('allowed');
  });
  socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
});

const result = {
  env: Object.keys(process.env).sort(),
  write: attempt(() => fs.writeFileSync(writeTarget!, 'x')),
  read: attempt(() => fs.readFileSync(readTarget!)),
  spawn: attempt(() => execFileSync('/bin/true')),
  // A native addon the project itself depends on: loading it must be refused.
  addon: attempt(() => createRequire(import.meta.url)('better-sqlite3')(':memory:')),
  connect,
};
process.stdout.write(JSON.stringify(result) + '\n');
