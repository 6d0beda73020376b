// A call to a running supervisor as a client makes it, shared by the end-to-end and the
// cluster harnesses: an admin token unless anonymous, JSON bodies encoded, JSON answers parsed.

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON. */
  json: any;
}

export interface CallOptions {
  /** JSON unless a string, Buffer/Uint8Array or FormData. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send no credentials. */
  anonymous?: boolean;
}

export async function callSupervisor(baseUrl: string, adminToken: string, method: string, target: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = options.anonymous ? {} : { authorization: `Bearer ${adminToken}` };
  Object.assign(headers, options.headers);
  let body: string | Uint8Array<ArrayBuffer> | FormData | undefined;
  if (typeof options.body === 'string' || options.body instanceof FormData) body = options.body;
  else if (options.body instanceof Uint8Array) body = new Uint8Array(options.body);
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(baseUrl + target, { method, headers, body });
  const text = await response.text();
  const json = response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined;
  return { status: response.status, headers: response.headers, text, json };
}
