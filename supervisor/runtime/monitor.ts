/**
 * Samples the RSS and CPU of every plugin child with pidusage, in one batch per tick
 * (about every 500 ms), and hands each child its own figures. The child decides what a
 * figure means (replacement past its limit); this module only measures.
 */
import pidusage from 'pidusage';

export interface ResourceSample {
  rssBytes: number;
  cpuPercent: number;
}

type SampleListener = (sample: ResourceSample) => void;

export class ResourceMonitor {
  private readonly listeners = new Map<number, SampleListener>();
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(private readonly intervalMs = 500) {}

  watch(pid: number, listener: SampleListener): void {
    this.listeners.set(pid, listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.sample(), this.intervalMs);
      this.timer.unref();
    }
  }

  unwatch(pid: number): void {
    this.listeners.delete(pid);
    if (this.listeners.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      // Also stops pidusage's own history timer, which would keep the process alive.
      pidusage.clear();
    }
  }

  private async sample(): Promise<void> {
    if (this.sampling || this.listeners.size === 0) return;
    this.sampling = true;
    try {
      const pids = [...this.listeners.keys()];
      // One failed pid (exited between ticks) must not hide the others' figures.
      const stats = await Promise.all(pids.map((pid) => pidusage(pid).catch(() => undefined)));
      stats.forEach((stat, i) => {
        if (stat) this.listeners.get(pids[i]!)?.({ rssBytes: stat.memory, cpuPercent: stat.cpu });
      });
    } finally {
      this.sampling = false;
    }
  }
}
