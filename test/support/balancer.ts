// What a load balancer does with the nodes' health probe: it sends each call to a node whose
// last `GET /ready` answered 200, in turn, and probes every node again `probeMs` after the
// last round. A node answering 503 (starting, stopping) or not at all is skipped until it
// answers 200 again.
import { setTimeout as delay } from 'node:timers/promises';
import type { Answer, CallOptions } from './http.js';

export interface BalancedNode {
  readonly nodeId: string;
  readonly url: string;
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
}

/** A probe not answered by then counts as failed (what balancers call the health-check timeout). */
const PROBE_TIMEOUT_MS = 5000;

export class ProbingBalancer<T extends BalancedNode> {
  readonly nodeId = 'balancer';
  private readonly ready = new Set<T>();
  private closed = false;
  private readonly probing: Promise<void>;
  private turn = 0;

  /** Resolves once every node has been probed once. */
  readonly started: Promise<void>;

  constructor(private readonly nodes: T[], probeMs = 100) {
    const started = this.probe();
    this.started = started;
    this.probing = (async () => {
      await started;
      while (!this.closed) {
        await delay(probeMs);
        await this.probe();
      }
    })();
  }

  /** A request to the next node that was ready at its last probe; 503 from the balancer itself when none is. */
  call(method: string, target: string, options?: CallOptions): Promise<Answer> {
    const ready = this.nodes.filter((node) => this.ready.has(node));
    if (ready.length === 0) return Promise.resolve({ status: 503, headers: new Headers(), text: 'balancer: no node ready', json: undefined });
    return ready[this.turn++ % ready.length]!.call(method, target, options);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.probing;
  }

  private async probe(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const ok = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then((answer) => answer.status === 200, () => false);
        if (ok) this.ready.add(node);
        else this.ready.delete(node);
      }),
    );
  }
}
