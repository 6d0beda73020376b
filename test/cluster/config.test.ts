// The cluster settings of the environment: defaults, and every bad value named at start.
import os from 'node:os';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../supervisor/config.js';

describe('cluster settings', () => {
  it('default to the host name, 2 s heartbeats, a 10 s timeout, pruning after 10 timeouts, a 5 s reconcile, no shutdown grace', () => {
    const config = loadConfig({});
    expect(config.cluster).to.deep.equal({ nodeId: os.hostname(), nodeUrl: null, heartbeatMs: 2000, nodeTimeoutMs: 10_000, pruneAfterMs: 100_000, reconcileMs: 5000 });
    expect(config.shutdownGraceMs).to.equal(0);
    expect(loadConfig({ CLUSTER_NODE_TIMEOUT_MS: '3000' }).cluster.pruneAfterMs).to.equal(30_000);
  });

  it('reads what is set', () => {
    const config = loadConfig({
      NODE_ID: 'node-1.eu',
      NODE_URL: 'http://10.0.0.5:8080',
      CLUSTER_HEARTBEAT_MS: '500',
      CLUSTER_NODE_TIMEOUT_MS: '4000',
      CLUSTER_NODE_PRUNE_MS: '60000',
      CLUSTER_RECONCILE_MS: '1500',
      SHUTDOWN_GRACE_MS: '5000',
    });
    expect(config.cluster).to.deep.equal({ nodeId: 'node-1.eu', nodeUrl: 'http://10.0.0.5:8080', heartbeatMs: 500, nodeTimeoutMs: 4000, pruneAfterMs: 60_000, reconcileMs: 1500 });
    expect(config.shutdownGraceMs).to.equal(5000);
  });

  it('refuses inconsistent or malformed values, naming each', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigError);
        return (error as Error).message;
      }
      return expect.fail('the configuration was accepted');
    };
    expect(problems({ CLUSTER_HEARTBEAT_MS: '5000', CLUSTER_NODE_TIMEOUT_MS: '5000' })).to.contain('CLUSTER_NODE_TIMEOUT_MS must be longer than CLUSTER_HEARTBEAT_MS');
    expect(problems({ CLUSTER_NODE_TIMEOUT_MS: '5000', CLUSTER_NODE_PRUNE_MS: '5000' })).to.contain('CLUSTER_NODE_PRUNE_MS must be longer than CLUSTER_NODE_TIMEOUT_MS');
    expect(problems({ SHUTDOWN_GRACE_MS: '-1' })).to.contain('SHUTDOWN_GRACE_MS must be a whole number from 0 to 600000');
    expect(problems({ NODE_ID: 'a b' })).to.contain('NODE_ID must match');
  });
});
