/**
 * The one text table of the command line (ps, top, plugins ls, events, token list) and the
 * figures in its cells. Numbers are right-aligned so their digits line up.
 */

export interface Column {
  title: string;
  align?: 'left' | 'right';
}

/** Header and rows, each cell padded to its column's widest, two spaces between columns. */
export function renderTable(columns: readonly Column[], rows: readonly string[][]): string[] {
  const widths = columns.map((column, index) => Math.max(column.title.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        return column.align === 'right' ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.title)), ...rows.map(line)];
}

/** What a cell shows for a figure the service does not know (yet). */
export const UNKNOWN = '-';

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return UNKNOWN;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatPercent(percent: number | null | undefined): string {
  return percent === null || percent === undefined ? UNKNOWN : `${percent.toFixed(1)}%`;
}

/** How long ago `since` was, in the two largest units: `45s`, `3m 12s`, `2h 5m`, `4d 1h`. */
export function formatUptime(since: string | null | undefined, now = Date.now()): string {
  if (!since) return UNKNOWN;
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const first = units.findIndex(([, size]) => seconds >= size);
  if (first === -1) return '0s';
  const [unit, size] = units[first]!;
  const whole = `${Math.floor(seconds / size)}${unit}`;
  const next = units[first + 1];
  return next ? `${whole} ${Math.floor((seconds % size) / next[1])}${next[0]}` : whole;
}
