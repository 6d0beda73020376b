/**
 * Progress of the long steps (componentize-js, transpiling, starting a sandboxed child) on
 * stderr: one line per step with the time since the command started, so a user waiting ten
 * seconds sees what it is waiting for, and stdout stays clean for what scripts capture.
 */
import type { Output } from '../command.js';

export type Progress = (message: string) => void;

export function progressOn(output: Output): Progress {
  const started = performance.now();
  return (message) => output.err(`[${formatDuration(performance.now() - started).padStart(7)}] ${message}`);
}

/** "0.4 ms", "12 ms", "2.3 s": enough digits to compare runs, no more. */
export function formatDuration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
