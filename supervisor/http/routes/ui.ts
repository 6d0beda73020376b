/**
 * The dashboard (`/ui`): the three files scripts/bundle-ui.mjs writes to dist/ui/, served
 * before authentication (they hold no data: the page asks for a token and sends it with
 * every API call it makes). Read once, at the first request, and kept: the bundle changes
 * only with a new build. The page may load nothing but these files and talk to nothing but
 * this server: the Content-Security-Policy says so to the browser.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceError } from '../../services/errors.js';
import type { AppMiddleware } from '../state.js';

export const UI_PATH = '/ui';

/** dist/supervisor/http/routes/ → dist/ui/ */
const BUNDLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../ui');

const FILES: Record<string, { file: string; type: string }> = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function uiRoutes(bundleDir = BUNDLE_DIR): AppMiddleware {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let bytes = cache.get(file);
    if (!bytes) {
      bytes = readFile(path.join(bundleDir, file));
      // A missing bundle is not remembered: a build made while the server runs is picked up.
      bytes.catch(() => cache.delete(file));
      cache.set(file, bytes);
    }
    return bytes;
  };

  return async (ctx, next) => {
    const lower = ctx.path.toLowerCase();
    if (lower !== UI_PATH && !lower.startsWith(`${UI_PATH}/`)) return next();
    const entry = FILES[ctx.path.slice(UI_PATH.length)];
    if (!entry) throw new ServiceError(404, 'not_found', `the dashboard has no file ${ctx.path}`);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      throw new ServiceError(405, 'method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; the dashboard's files are read with GET`);
    }
    const body = await load(entry.file).catch(() => {
      throw new ServiceError(503, 'dashboard_not_built', `the dashboard's file ${entry.file} is missing from ${bundleDir}: run "npm run build"`);
    });
    ctx.set('Content-Security-Policy', UI_CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    // Revalidated on every load, so a new build is seen at once; the files are small.
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = entry.type;
    ctx.body = body;
  };
}
