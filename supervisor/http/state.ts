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
}

export type AppContext = ParameterizedContext<AppState>;
export type AppMiddleware = Middleware<AppState>;
