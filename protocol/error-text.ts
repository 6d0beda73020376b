/**
 * The one way to turn anything thrown into a sentence, for every layer and both processes
 * (supervisor and plugin host): an error's own message, or its parts' messages when Node
 * joined several (AggregateError).
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(describeError).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return error.message || code || error.name;
  }
  return String(error);
}
