/**
 * What the middleware chain keeps on `ctx.state`, and the context and middleware types every
 * module of the HTTP layer is written against.
 */
import type { Middleware, ParameterizedContext } from 'koa';
import type { Principal } from '../services/contracts.js';

export interface AppState {
  /** Set first (./request-id.ts), so every later log line and error body can name it. */
  requestId: string;
  /** Who is calling; absent for anonymous requests to public paths (./auth.ts). */
  principal?: Principal;
  /**
   * The service's external base URL for this request (./host.ts): PUBLIC_URL, or the
   * request's scheme and allowed host. Set before auth, on every request that gets further.
   */
  externalBase: string;
  /** The error code of a failed request's answer (./errors.ts), for the access log. */
  errorCode?: string;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppMiddleware = Middleware<AppState>;
