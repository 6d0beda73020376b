// What a load balancer does with the nodes' health probe: it sends each call to a node whose
// last `GET /ready` answered 200, in turn, and probes every node every `probeMs`. A node
// answering 503 (starting, stopping) or not at all is skipped until it answers 200 again.
import type { Answer, CallOptions } from './http.js';

export interface BalancedNode {
  readonly nodeId: string;
  readonly url: string;
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
}

export class ProbingBalancer<T extends BalancedNode> {
  readonly nodeId = 'balancer';
  private readonly ready = new Set<T>();
  private readonly timer: NodeJS.Timeout;
  private turn = 0;

  constructor(private readonly nodes: T[], probeMs = 100) {
    this.timer = setInterval(() => void this.probe(), probeMs);
  }

  /** Probes every node once now (call before the first request). */
  async probe(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const ok = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(1000) }).then((answer) => answer.status === 200, () => false);
        if (ok) this.ready.add(node);
        else this.ready.delete(node);
      }),
    );
  }

  /** A request to the next node that was ready at its last probe; 503 from the balancer itself when none is. */
  call(method: string, target: string, options?: CallOptions): Promise<Answer> {
    const ready = this.nodes.filter((node) => this.ready.has(node));
    if (ready.length === 0) return Promise.resolve({ status: 503, headers: new Headers(), text: 'balancer: no node ready', json: undefined });
    return ready[this.turn++ % ready.length]!.call(method, target, options);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
