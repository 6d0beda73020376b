/**
 * The server's REST API as the page uses it: every call sends the token as a bearer header
 * (never in a URL), and every failure becomes an ApiError whose message is a sentence a
 * person can act on, built from the contract's error body.
 */
export interface ErrorBody {
  error?: string;
  message?: string;
  validation_errors?: { field: string; message: string }[];
  dependent_repositories?: { id: string; key: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(readonly token: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'unreachable', 'The server cannot be reached. Is it running?');
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = (json ?? {}) as ErrorBody;
      throw new ApiError(response.status, error.error ?? `http_${response.status}`, sentence(error, response));
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
}

/** The server's message as a sentence, with the extras that say what to do about it. */
export function sentence(error: ErrorBody, response: { status: number; statusText: string }): string {
  const parts = [capitalise(error.message ?? `The server answered ${response.status} ${response.statusText}`)];
  if (error.validation_errors?.length) parts.push(...error.validation_errors.map((v) => capitalise(`${v.field}: ${v.message}`)));
  if (error.dependent_repositories?.length) {
    parts.push(`Repositories using it: ${error.dependent_repositories.map((r) => r.key).join(', ')}`);
  }
  return parts.map((part) => (/[.!?]$/.test(part) ? part : `${part}.`)).join(' ');
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
