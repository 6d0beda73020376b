/** Numbers and times as the page shows them. */
export function mebibytes(bytes: number | null): string {
  return bytes === null ? '–' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function percent(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(1)} %`;
}

export function rate(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(value < 10 ? 1 : 0)}/s`;
}

export function duration(since: string | null, now = Date.now()): string {
  if (!since) return '–';
  const seconds = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export function clock(time: string): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? time : date.toLocaleTimeString([], { hour12: false });
}
