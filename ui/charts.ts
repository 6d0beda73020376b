/**
 * The last minutes of each process of a plugin (RSS, wasm memory, CPU, calls per second),
 * sampled at every poll, and the three small uPlot charts that draw them. The numbers are in
 * the processes table too; the charts show their course.
 */
import uPlot from 'uplot';
import { h } from './dom.js';

/** How far back the charts reach. */
export const WINDOW_SECONDS = 300;
/** A fresh chart spans at least this much, its line growing from the right. */
const MIN_SPAN_SECONDS = 60;

export interface Sample {
  /** One process: node and pid. */
  key: string;
  label: string;
  rssMb: number | null;
  wasmMb: number | null;
  cpu: number | null;
  callsPerSecond: number | null;
}

type Metric = 'rssMb' | 'wasmMb' | 'cpu' | 'callsPerSecond';
const METRICS: Metric[] = ['rssMb', 'wasmMb', 'cpu', 'callsPerSecond'];

interface Track {
  label: string;
  values: Record<Metric, (number | null)[]>;
}

/** Samples of one plugin's processes on a shared time axis (seconds), WINDOW_SECONDS long. */
export class History {
  readonly times: number[] = [];
  readonly tracks = new Map<string, Track>();

  add(time: number, samples: Sample[]): void {
    const length = this.times.length;
    this.times.push(time);
    const byKey = new Map(samples.map((sample) => [sample.key, sample]));
    for (const sample of samples) {
      if (this.tracks.has(sample.key)) continue;
      const empty = () => new Array<number | null>(length).fill(null);
      this.tracks.set(sample.key, { label: sample.label, values: { rssMb: empty(), wasmMb: empty(), cpu: empty(), callsPerSecond: empty() } });
    }
    for (const [key, track] of this.tracks) {
      const sample = byKey.get(key);
      for (const metric of METRICS) track.values[metric].push(sample ? sample[metric] : null);
    }
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < time - WINDOW_SECONDS) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      for (const track of this.tracks.values()) for (const metric of METRICS) track.values[metric].splice(0, drop);
    }
    // A process gone for the whole window leaves the charts.
    for (const [key, track] of this.tracks) {
      if (track.values.rssMb.every((v) => v === null) && track.values.callsPerSecond.every((v) => v === null)) this.tracks.delete(key);
    }
  }
}

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

interface ChartSpec {
  title: string;
  unit: string;
  lines: { metric: Metric; suffix: string; dash?: number[] }[];
}

const CHARTS: ChartSpec[] = [
  { title: 'Memory', unit: 'MiB', lines: [{ metric: 'rssMb', suffix: 'RSS' }, { metric: 'wasmMb', suffix: 'wasm', dash: [4, 3] }] },
  { title: 'CPU', unit: '%', lines: [{ metric: 'cpu', suffix: '' }] },
  { title: 'Calls', unit: 'per second', lines: [{ metric: 'callsPerSecond', suffix: '' }] },
];

/**
 * From the first sample to the last, at least MIN_SPAN_SECONDS (from the data itself: uPlot
 * widens a single sample's range to a whole day).
 */
function timeRange(plot: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const times = plot.data[0];
  if (times.length === 0) return [min, max];
  const last = times[times.length - 1];
  return [Math.min(times[0], last - MIN_SPAN_SECONDS), last];
}

/** The three charts of the selected plugin, rebuilt when its set of processes changes. */
export class Charts {
  readonly element: HTMLElement;
  private plots: uPlot[] = [];
  private cells: HTMLElement[] = [];
  private shape = '';
  private readonly resize = new ResizeObserver(() => this.fit());

  constructor() {
    this.element = h('div', { class: 'charts' });
    this.resize.observe(this.element);
  }

  show(history: History): void {
    const keys = [...history.tracks.keys()];
    const shape = keys.join('|');
    if (shape !== this.shape) this.build(history, keys, shape);
    this.plots.forEach((plot, index) => plot.setData(this.data(history, keys, CHARTS[index])));
  }

  destroy(): void {
    this.resize.disconnect();
    for (const plot of this.plots) plot.destroy();
    this.plots = [];
  }

  private build(history: History, keys: string[], shape: string): void {
    for (const plot of this.plots) plot.destroy();
    this.shape = shape;
    this.cells = CHARTS.map((spec) => h('figure', { class: 'chart', role: 'img', 'aria-label': `${spec.title} of each process, last ${WINDOW_SECONDS / 60} minutes` }, h('figcaption', {}, `${spec.title} (${spec.unit})`)));
    this.element.replaceChildren(...this.cells);
    if (keys.length === 0) {
      this.element.replaceChildren(h('p', { class: 'muted' }, 'No process has run in the last minutes.'));
      this.plots = [];
      return;
    }
    this.plots = CHARTS.map((spec, index) => {
      const series: uPlot.Series[] = [{}];
      keys.forEach((key, processIndex) => {
        for (const line of spec.lines) {
          const label = [history.tracks.get(key)!.label, line.suffix].filter(Boolean).join(' ');
          series.push({ label, stroke: PALETTE[processIndex % PALETTE.length], width: 1.5, dash: line.dash, spanGaps: false, points: { show: false } });
        }
      });
      const options: uPlot.Options = {
        width: this.width(this.cells[index]),
        height: 140,
        series,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true, range: timeRange }, y: { range: (_u, _min, max) => [0, Math.max(max, spec.unit === '%' ? 5 : 1)] } },
        axes: [{ space: 70, size: 30, values: '{HH}:{mm}:{ss}' }, { size: 44 }],
      };
      return new uPlot(options, this.data(history, keys, spec), this.cells[index]);
    });
  }

  private data(history: History, keys: string[], spec: ChartSpec): uPlot.AlignedData {
    const columns: (number | null)[][] = [];
    for (const key of keys) for (const line of spec.lines) columns.push(history.tracks.get(key)!.values[line.metric]);
    return [history.times, ...columns] as uPlot.AlignedData;
  }

  private width(cell: HTMLElement): number {
    return Math.max(200, Math.floor(cell.clientWidth || 300) - 8);
  }

  private fit(): void {
    this.plots.forEach((plot, index) => {
      const width = this.width(this.cells[index]);
      if (Math.abs(plot.width - width) > 4) plot.setSize({ width, height: 140 });
    });
  }
}
