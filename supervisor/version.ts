/** This build's version, package.json's: what a node records about itself in the cluster. */
import { readFileSync } from 'node:fs';

// Compiled to dist/supervisor/version.js: two folders up is the package's root.
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION: string = manifest.version;
