// A client calling at a fixed rate whatever the answers take (an open loop, as many users
// would), spreading its calls over several targets in turn: the cluster tests and the cluster
// benchmark count the calls that failed while nodes reload, die or come back.
import { setTimeout as delay } from 'node:timers/promises';

export interface FixedRateTarget {
  readonly nodeId: string;
}

export interface FixedRateClient {
  /** Calls sent so far. */
  readonly sent: number;
  /** Stops sending, waits for the calls in flight; every answer that was not 200 (or the error when there was none), with its target. */
  stop(): Promise<{ sent: number; failures: string[] }>;
}

/** Starts calling `call(target)` every `intervalMs`, over `targets` in turn. */
export function fixedRateClient<T extends FixedRateTarget>(targets: T[], intervalMs: number, call: (target: T) => Promise<{ status: number; text: string }>): FixedRateClient {
  const inFlight = new Set<Promise<void>>();
  const failures: string[] = [];
  let sent = 0;
  let stopped = false;
  const loop = (async () => {
    const started = Date.now();
    while (!stopped) {
      const target = targets[sent % targets.length]!;
      sent++;
      const done: Promise<void> = call(target)
        .then(
          (answer) => {
            if (answer.status !== 200) failures.push(`${target.nodeId}: ${answer.status} ${answer.text}`);
          },
          (error: Error) => {
            failures.push(`${target.nodeId}: ${error.message}`);
          },
        )
        .finally(() => inFlight.delete(done));
      inFlight.add(done);
      // The next call is due at a fixed time, not a fixed pause after this one.
      await delay(Math.max(0, started + sent * intervalMs - Date.now()));
    }
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...inFlight]);
      return { sent, failures };
    },
  };
}
