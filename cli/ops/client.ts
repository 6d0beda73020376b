/**
 * The one REST client of the operators' commands: where the service is and which token to
 * send (PLUGIN_KEEPER_URL, PLUGIN_KEEPER_TOKEN or the data directory's admin-token), and
 * every way a call can fail turned into one sentence a person can act on. A service that
 * cannot be reached exits 2; anything the service answered with an error exits 1.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_TOKEN_FILE } from '../../supervisor/services/tokens.js';
import { CommandFailed } from '../command.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
const API_PREFIX = '/api/v1';
/** Installs clone and start processes (the server bounds a clone at 60 s); reads are quick. */
const CALL_TIMEOUT_MS = 180_000;

/** The end of every operator command's --help. */
export const CONNECTION_HELP = `The service: PLUGIN_KEEPER_URL (default ${DEFAULT_URL}); the token: PLUGIN_KEEPER_TOKEN
(default: <DATA_DIR>/admin-token when readable, DATA_DIR defaulting to ./data).`;

export interface ClientSettings {
  baseUrl: string;
  /** Undefined when none was given and no admin-token file could be read. */
  token: string | undefined;
  /** Where the token came from, named in the 401 sentence. */
  tokenSource: string;
}

/** PLUGIN_KEEPER_URL and PLUGIN_KEEPER_TOKEN, else `<DATA_DIR>/admin-token` when readable. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const baseUrl = (env.PLUGIN_KEEPER_URL || DEFAULT_URL).replace(/\/+$/, '');
  if (env.PLUGIN_KEEPER_TOKEN) return { baseUrl, token: env.PLUGIN_KEEPER_TOKEN, tokenSource: 'PLUGIN_KEEPER_TOKEN' };
  const file = path.resolve(env.DATA_DIR || './data', ADMIN_TOKEN_FILE);
  try {
    return { baseUrl, token: readFileSync(file, 'utf8').trim(), tokenSource: file };
  } catch {
    return { baseUrl, token: undefined, tokenSource: `no PLUGIN_KEEPER_TOKEN and no readable ${file}` };
  }
}

export interface CallOptions {
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  /** Streaming answers (logs -f) are not timed out. */
  stream?: boolean;
}

/** An error answer of the service, as a sentence, with its status (404 may be expected). */
export class ServiceAnswered extends CommandFailed {
  constructor(
    readonly status: number,
    message: string,
    details: string[] = [],
  ) {
    super(message, details);
  }
}

export interface ClientOptions {
  /** Aborts every call of this client (top's quit while a call is out). */
  signal?: AbortSignal;
  /** How long a call may take, streams excepted (default 180 s). */
  timeoutMs?: number;
}

export class RestClient {
  private readonly signal: AbortSignal | undefined;
  private readonly timeoutMs: number;

  constructor(
    readonly settings: ClientSettings,
    options: ClientOptions = {},
  ) {
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  }

  static fromEnv(options: ClientOptions = {}): RestClient {
    return new RestClient(settingsFromEnv(), options);
  }

  /** `GET`, `POST`...: the parsed JSON answer (undefined for 204); a failure as CommandFailed. */
  async call<T>(method: string, route: string, options: CallOptions = {}): Promise<T> {
    const response = await this.send(method, route, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** The answer itself, checked (2xx), for a body read as a stream. */
  async send(method: string, route: string, options: CallOptions = {}): Promise<Response> {
    const url = new URL(this.settings.baseUrl + API_PREFIX + route);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.settings.token !== undefined) headers.authorization = `Bearer ${this.settings.token}`;
    let body: string | FormData | undefined = options.form;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    const signals = [this.signal, options.stream ? undefined : AbortSignal.timeout(this.timeoutMs)].filter((signal) => signal !== undefined);
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined });
    } catch (error) {
      if (this.signal?.aborted) throw error;
      const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : networkReason(error);
      throw new CommandFailed(`cannot reach the plugin-keeper service at ${this.settings.baseUrl}: ${reason}; is it running? (PLUGIN_KEEPER_URL says where)`, [], 2);
    }
    if (response.ok) return response;
    throw await this.failure(response);
  }

  private async failure(response: Response): Promise<ServiceAnswered> {
    const text = await response.text().catch(() => '');
    let body: { error?: string; message?: string; validation_errors?: { field: string; message: string }[]; dependent_repositories?: { key: string }[] } = {};
    try {
      body = JSON.parse(text);
    } catch {
      // Not the service's JSON (a proxy's page, say): the status alone is said.
    }
    const service = this.settings.baseUrl;
    switch (response.status) {
      case 401:
        return new ServiceAnswered(
          401,
          this.settings.token === undefined
            ? `the service at ${service} needs a token (401): set PLUGIN_KEEPER_TOKEN, or DATA_DIR to the service's data directory (${this.settings.tokenSource})`
            : `the service at ${service} did not accept the token (401) from ${this.settings.tokenSource}: it is unknown or revoked`,
        );
      case 403:
        return new ServiceAnswered(403, `this needs an admin token (403): the token from ${this.settings.tokenSource} may only read`);
    }
    const details = [
      ...(body.validation_errors ?? []).map((problem) => `${problem.field}: ${problem.message}`),
      ...(body.dependent_repositories ?? []).map((repository) => `used by repository ${repository.key}`),
    ];
    const reason = body.message ?? `the service at ${service} answered ${response.status} ${response.statusText}`;
    // A message that is its only problem is not said twice.
    const more = details.filter((detail) => !reason.includes(detail.slice(detail.indexOf(': ') + 2)));
    return new ServiceAnswered(response.status, `${reason} (${response.status}${body.error ? ` ${body.error}` : ''})`, more);
  }
}

/** fetch's "fetch failed" says nothing; its cause names the system error. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host';
    case 'ECONNRESET':
      return 'the connection was reset';
    default:
      return cause?.message ?? (error as Error).message;
  }
}
