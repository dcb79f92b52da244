// Large REST answers are never cut short: a 20 MB result read slowly (about 2 MB/s, so the
// gateway writes for longer than any keep-alive or idle timer) arrives whole; 10 readers at once
// page through 7 MB of dead letters with next_cursor, every page bounded in bytes, every entry
// seen once. The C test stored the data: ZSA_RESULT_ID (ZSA_RESULT_BYTES of JSON) and
// ZSA_DEAD_COUNT dead letters d0..dN-1.
import http from 'node:http';
import { GATEWAY, check, run, http as rest } from './lib.mjs';

const [host, port] = GATEWAY.split(':');

function slowGet(path, bytesPerSec) {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false }, (res) => {
      const chunks = [];
      let got = 0;
      const t0 = Date.now();
      res.on('data', (c) => {
        chunks.push(c);
        got += c.length;
        const due = (got / bytesPerSec) * 1000 - (Date.now() - t0);
        if (due > 0) { res.pause(); setTimeout(() => res.resume(), due); }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), ms: Date.now() - t0 }));
      res.on('aborted', () => reject(new Error(`aborted after ${got} bytes, ${Date.now() - t0} ms`)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function pageAll(reader) {
  const seen = new Set();
  let cursor = null, pages = 0, biggest = 0;
  for (;;) {
    const r = await rest('GET', '/api/dead?limit=1000' + (cursor ? `&cursor=${cursor}` : ''));
    check(r.status === 200, `reader ${reader}: page ${pages}: ${r.status} ${r.text.slice(0, 200)}`);
    pages++;
    biggest = Math.max(biggest, r.text.length);
    check(r.text.length <= 1.1 * 1024 * 1024, `reader ${reader}: a page of ${r.text.length} bytes`);
    check(r.body.count === r.body.dead.length, `count ${r.body.count} vs ${r.body.dead.length} entries`);
    for (const e of r.body.dead) {
      check(!seen.has(e.job_id), `reader ${reader}: ${e.job_id} twice`);
      seen.add(e.job_id);
    }
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  return { seen: seen.size, pages, biggest };
}

run(async () => {
  const id = process.env.ZSA_RESULT_ID, want = Number(process.env.ZSA_RESULT_BYTES);
  const big = await slowGet(`/api/results/${id}`, 2e6);
  check(big.status === 200, `result: HTTP ${big.status}`);
  check(Number(big.headers['content-length']) === want, `Content-Length ${big.headers['content-length']}, stored ${want}`);
  check(big.body.length === want, `result cut short: ${big.body.length} of ${want} bytes after ${big.ms} ms`);
  JSON.parse(big.body.toString());

  const n = Number(process.env.ZSA_DEAD_COUNT);
  const readers = await Promise.all(Array.from({ length: 10 }, (_, i) => pageAll(i)));
  for (const r of readers) check(r.seen === n, `a reader saw ${r.seen} of ${n} dead letters`);
  const bad = await rest('GET', '/api/dead?limit=1001');
  check(bad.status === 400 && bad.body.error.field === 'limit', `limit=1001: ${bad.status} ${bad.text}`);
  console.log(`ok: ${want} B result in ${big.ms} ms; 10 readers x ${readers[0].pages} pages (largest ${readers[0].biggest} B) x ${n} dead letters`);
});
