// Bundles examples/basic.tsx (the README's React example) into one HTML page, for the browser
// test (tests/integration/test_dashboard.c serves it from another origin than the gateway's).
// usage: node examples/build.mjs OUT.html
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const js = await build({
  entryPoints: [resolve(here, 'basic.tsx')], bundle: true, minify: true, format: 'iife', target: 'es2020',
  jsx: 'automatic', define: { 'process.env.NODE_ENV': '"production"' }, write: false, logLevel: 'error',
});
const code = js.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1');
writeFileSync(process.argv[2], `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>zsa example</title></head>\n` +
  `<body><div id="root"></div><script>${code}</script></body></html>\n`);
