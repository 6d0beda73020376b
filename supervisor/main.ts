/**
 * `npm start`: reads the configuration from the environment, starts the supervisor, prints a
 * generated admin token once, and shuts down gracefully on SIGTERM/SIGINT (not ready, the
 * grace, then the drain). Exits 1 when the data directory is held by another supervisor,
 * the database cannot be reached, or another process takes over this node's id.
 */
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DataDirInUse } from './data-dir-lock.js';
import { DatabaseUnavailable } from './store/errors.js';
import { startSupervisor, type Supervisor } from './supervisor.js';

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
  let supervisor: Supervisor;
  try {
    supervisor = await startSupervisor(config, logger, {
      // Another process runs with this NODE_ID (the error is logged): this one must go.
      onFatal: () => process.exit(1),
    });
  } catch (error) {
    if (!(error instanceof DataDirInUse || error instanceof DatabaseUnavailable)) throw error;
    // What the operator must fix, said once, without a stack.
    logger.fatal(error.message);
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
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
    // /ready answers 503 from now on; the grace lets load balancers see it before the
    // server stops taking connections.
    await supervisor.leave();
    if (config.shutdownGraceMs > 0) {
      logger.info({ signal, grace_ms: config.shutdownGraceMs }, 'shutting down: not ready, still serving');
      await new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs));
    }
    logger.info({ signal }, 'shutting down: draining plugins');
    await supervisor.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
