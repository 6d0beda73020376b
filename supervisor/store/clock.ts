/** Timestamps the store writes. */

let last = 0;

/**
 * Now, as an RFC 3339 UTC string with milliseconds, strictly increasing within the process:
 * rows written in the same millisecond (the events of one install, an update right after
 * an insert) still sort in the order they were written. Under a burst of more than 1000
 * calls a second the clock runs slightly ahead, and catches up when the burst ends.
 */
export function timestamp(): string {
  last = Math.max(Date.now(), last + 1);
  return new Date(last).toISOString();
}
