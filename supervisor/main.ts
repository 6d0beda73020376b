/**
 * `npm start`: reads the configuration from the environment, starts the supervisor, prints a
 * generated admin token once, and shuts down gracefully on SIGTERM/SIGINT.
 */
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startSupervisor } from './supervisor.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel });
  const supervisor = await startSupervisor(config, logger);
  if (supervisor.generatedAdminToken) {
    // Printed once, on stderr, outside the JSON log: the operator's way in on a new install.
    process.stderr.write(
      `\nNo ADMIN_TOKEN or ADMIN_PASSWORD was set, so an admin token was generated:\n\n  ${supervisor.generatedAdminToken}\n\n` +
        `It is also in ${config.dataDir}/admin-token (mode 0600). Use it as: Authorization: Bearer <token>\n\n`,
    );
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining plugins');
    await supervisor.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
