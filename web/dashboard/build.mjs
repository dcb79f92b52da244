// Bundles the dashboard (src/main.tsx with React and @zsa/react, minified) and its CSS into one
// HTML page, gateway/dashboard/index.html, which the C build embeds in zsa-gateway. The page is
// committed: the C build never needs npm. `node build.mjs --check` says whether it is up to date
// (make test runs it). The output is written to a temp file and renamed, so a C build running
// meanwhile sees the old page or the new one, never half of one.
import { build } from 'esbuild';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '../../gateway/dashboard/index.html');

const js = await build({
  entryPoints: [resolve(here, 'src/main.tsx')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  jsx: 'automatic',
  legalComments: 'none',
  charset: 'utf8',
  define: { 'process.env.NODE_ENV': '"production"' },
  write: false,
  logLevel: 'error',
});
// the components' CSS, from @zsa/react (a module without imports)
const cssMod = await build({ entryPoints: [resolve(here, '../react/src/css.ts')], bundle: true, format: 'esm', write: false, logLevel: 'error' });
const { zsaCss } = await import(`data:text/javascript;base64,${Buffer.from(cssMod.outputFiles[0].text).toString('base64')}`);

// the page's own CSS first, then the components'; a "</" inside the script would end it early
const code = js.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1').trimEnd();
const css = (readFileSync(resolve(here, 'src/dashboard.css'), 'utf8') + zsaCss).replace(/<\/(style)/gi, '<\\/$1');
const page = readFileSync(resolve(here, 'index.html'), 'utf8')
  .replace('/*@CSS@*/', () => `\n${css.trim()}\n`)
  .replace('/*@JS@*/', () => code);

if (process.argv.includes('--check')) {
  let cur = '';
  try {
    cur = readFileSync(out, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (cur !== page) {
    console.error('gateway/dashboard/index.html is out of date: run make web-bundle');
    process.exit(1);
  }
  process.exit(0);
}
writeFileSync(`${out}.tmp`, page);
renameSync(`${out}.tmp`, out);
console.log(`web-bundle: gateway/dashboard/index.html (${(page.length / 1024).toFixed(0)} KB)`);
