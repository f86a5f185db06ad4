// Builds the dashboard into dist/: src/main.ts bundled and minified by esbuild (app.js), with
// index.html and app.css copied next to it. The router (router/gateway.mjs) serves dist/.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [resolve(here, 'src/main.ts')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['es2022'],
  outfile: resolve(dist, 'app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(resolve(here, 'src', file), resolve(dist, file));
console.log(`dashboard built in ${dist}`);
