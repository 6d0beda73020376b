// Bundles the dashboard (ui/) into dist/ui/: one script (our code and uPlot), one style sheet
// (uPlot's and ours), and the page. The supervisor serves exactly these three files at /ui
// (supervisor/http/routes/ui.ts); nothing is fetched from anywhere else.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const outdir = 'dist/ui';
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: 'ui/main.ts', style: 'ui/style.css' },
  outdir,
  bundle: true,
  minify: true,
  sourcemap: false,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
});
await copyFile('ui/index.html', `${outdir}/index.html`);
