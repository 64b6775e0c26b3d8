// Builds the web page into dist/web/: web/app.ts and uPlot bundled and minified by esbuild
// (app.js, app.css), plus index.html and favicon.svg copied. Run by `npm run build` and `prepare`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'web', 'app.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'app.js'),
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'favicon.svg'])
  copyFileSync(join(root, 'web', file), join(out, file));
let total = 0;
for (const file of ['index.html', 'app.js', 'app.css', 'favicon.svg'])
  total += statSync(join(out, file)).size;
console.log(`web page built in dist/web: ${(total / 1024).toFixed(1)} KiB`);
