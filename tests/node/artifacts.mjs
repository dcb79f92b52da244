// Results people can see (docs/PROTOCOL.md, "Artifacts" and "Previews"): a segmentation runs on a
// real worker; clients that opened with ?previews=1 get a preview message after its
// processing_complete (MessagePack: the PNG itself in a binary frame, equal to the file; JSON: its
// URL only); a client that did not ask gets none. Over REST the artifacts are listed with their
// sizes and sent whole or by range (206, suffix and open ranges, 416, several ranges ignored),
// with their type, and HEAD says the same without the body; ETag, Last-Modified, If-None-Match
// (304) and If-Range; every refusal has its code (unknown result, unknown artifact, a link in place
// of a file, a path that tries to climb out, the wrong method).
//
// Env: ZSA_RESULTS_DIR (the workers' results directory, to compare bytes with), ZSA_FILE (the
// stack, relative to the worker's data directory); ZSA_NO_RESULTS_DIR=1: the gateway has no
// --results-dir, so only the preview (from Redis) can be served, and its --max-preview-kb is
// below the preview's size, so MessagePack clients get the URL only.
import fs from 'node:fs';
import { Client, check, http, run } from './lib.mjs';

const DIR = process.env.ZSA_RESULTS_DIR;
const sessionId = process.env.ZSA_NO_RESULTS_DIR ? 'art2' : 'art';
const job = `${sessionId}-seg`;
const rid = `${job}.r1`;

async function get(path, headers = {}, method = 'GET') {
  const res = await fetch(`http://${process.env.ZSA_GATEWAY}${path}`, { headers, method });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function previews() {
  const mp = new Client(`?session_id=${sessionId}&previews=1`, { msgpack: true });
  const js = new Client(`?session_id=${sessionId}&previews=1`);
  const none = new Client(`?session_id=${sessionId}`, { msgpack: true });
  for (const c of [mp, js, none]) await c.type('connected');
  const r = await http('POST', '/api/jobs', { job_id: job, image_id: 'stack', algorithm: 'segmentation_3d',
    file_path: process.env.ZSA_FILE, session_id: sessionId, parameters: { sigma: 1 } });
  check(r.status === 202, `submit: ${r.status} ${r.text}`);
  const done = {};
  for (const [name, c] of [['msgpack', mp], ['json', js], ['none', none]]) {
    done[name] = await c.next((m) => m.job_id === job && /processing_(complete|failed)/.test(m.event_type), 60000, `${name}: the end`);
    check(done[name].event_type === 'processing_complete', `${name}: ${JSON.stringify(done[name])}`);
  }
  const p = done.msgpack.summary.preview;
  check(p && p.name === 'preview.png' && p.width > 0 && p.height > 0, `summary.preview: ${JSON.stringify(p)}`);
  const pm = await mp.type('preview', 10000);
  check(pm.job_id === job && pm.result_id === rid && pm.session_id === sessionId && pm.content_type === 'image/png',
    `msgpack preview: ${JSON.stringify({ ...pm, data: undefined })}`);
  check(pm.width === p.width && pm.height === p.height, 'preview size differs from the summary');
  if (process.env.ZSA_NO_RESULTS_DIR) { // over the gateway's --max-preview-kb=1: the URL only
    check(pm.data === undefined && pm.url === `/api/results/${rid}/artifacts/preview.png`, 'a preview over the bound came with its bytes');
    pm.data = new Uint8Array((await get(pm.url)).bytes);
  }
  check(pm.data instanceof Uint8Array && pm.data.length > 100, 'no bytes in the MessagePack preview');
  const pj = await js.type('preview', 10000);
  check(pj.data === undefined && pj.url === `/api/results/${rid}/artifacts/preview.png`, `json preview: ${JSON.stringify(pj)}`);
  const viaRest = await get(pj.url);
  check(viaRest.status === 200 && viaRest.headers.get('content-type') === 'image/png', `GET ${pj.url}: ${viaRest.status}`);
  check(Buffer.compare(Buffer.from(pm.data), viaRest.bytes) === 0, 'the binary frame differs from the REST preview');
  const png = Buffer.from(pm.data);
  check(png.subarray(1, 4).toString() === 'PNG' && png.readUInt32BE(16) === p.width && png.readUInt32BE(20) === p.height,
    'the frame is not a PNG of the summary\'s size');
  if (DIR && !process.env.ZSA_NO_RESULTS_DIR)
    check(Buffer.compare(png, fs.readFileSync(`${DIR}/${rid}/preview.png`)) === 0, 'the frame differs from preview.png on disk');
  await new Promise((ok) => setTimeout(ok, 500));
  check(!none.inbox.some((m) => m.event_type === 'preview'), 'a client that did not ask got a preview');
  check(!mp.inbox.some((m) => m.event_type === 'preview') && !js.inbox.some((m) => m.event_type === 'preview'),
    'a preview came twice');
  for (const c of [mp, js, none]) await c.close();
  console.log(`ok previews: ${png.length}-byte PNG ${p.width}x${p.height} in a binary frame equals the file; JSON got its URL`);
}

async function rest() {
  let r = await http('GET', `/api/results/${rid}/artifacts`);
  check(r.status === 200 && r.body.result_id === rid, `list: ${r.status} ${r.text}`);
  const names = r.body.artifacts.map((a) => a.name).sort();
  check(JSON.stringify(names) === '["labels.tif","objects.csv","preview.png"]', `names: ${names}`);
  const types = { 'labels.tif': 'image/tiff', 'objects.csv': 'text/csv; charset=utf-8', 'preview.png': 'image/png' };
  const sent = async () => Number(/^zsa_gateway_artifact_bytes_total (\d+)/m.exec((await http('GET', '/metrics')).text)?.[1]);
  const before = await sent();
  let total = 0;
  for (const a of r.body.artifacts) {
    total += a.size;
    check(a.url === `/api/results/${rid}/artifacts/${a.name}` && a.type === types[a.name] && a.download_url === `${a.url}?download=1`, // auth off: no link
      `entry: ${JSON.stringify(a)}`);
    const file = fs.readFileSync(`${DIR}/${rid}/${a.name}`);
    check(a.size === file.length, `${a.name}: listed ${a.size} bytes, the file has ${file.length}`);
    const g = await get(a.url);
    check(g.status === 200 && g.headers.get('content-type') === a.type && Number(g.headers.get('content-length')) === file.length,
      `GET ${a.name}: ${g.status} ${g.headers.get('content-type')} ${g.headers.get('content-length')}`);
    check(g.headers.get('accept-ranges') === 'bytes' && /sandbox/.test(g.headers.get('content-security-policy') || ''),
      `${a.name}: Accept-Ranges / CSP missing`);
    check(Buffer.compare(g.bytes, file) === 0, `${a.name}: the bytes differ from the file`);
    check(!g.headers.get('content-disposition'), `${a.name}: a plain GET is not an attachment`);
    const d = await get(a.download_url); // a save, even from a page of another origin
    check(d.status === 200 && d.headers.get('content-disposition') === `attachment; filename="${a.name}"` && Buffer.compare(d.bytes, file) === 0,
      `${a.name} by its download_url: ${d.status} ${d.headers.get('content-disposition')}`);
    total += a.size;
  }
  check(await sent() - before === total, `zsa_gateway_artifact_bytes_total grew by ${await sent() - before}, not ${total}`);
  const tif = fs.readFileSync(`${DIR}/${rid}/labels.tif`);
  const url = `/api/results/${rid}/artifacts/labels.tif`;
  for (const [range, from, to] of [['bytes=0-99', 0, 99], ['bytes=100-', 100, tif.length - 1], ['bytes=-10', tif.length - 10, tif.length - 1],
    [`bytes=5-${tif.length + 1000}`, 5, tif.length - 1]]) {
    const g = await get(url, { range });
    check(g.status === 206 && g.headers.get('content-range') === `bytes ${from}-${to}/${tif.length}`,
      `${range}: ${g.status} ${g.headers.get('content-range')}`);
    check(Buffer.compare(g.bytes, tif.subarray(from, to + 1)) === 0, `${range}: wrong bytes`);
  }
  let g = await get(url, { range: `bytes=${tif.length}-` });
  check(g.status === 416 && g.headers.get('content-range') === `bytes */${tif.length}`, `past the end: ${g.status}`);
  check(JSON.parse(g.bytes.toString()).error.code === 'RANGE_NOT_SATISFIABLE', '416 body');
  g = await get(url, { range: 'bytes=0-1,5-6' });
  check(g.status === 200 && g.bytes.length === tif.length, `several ranges: ${g.status} ${g.bytes.length}`);
  g = await get(`/api/results/${rid}/artifacts/preview.png`, { range: 'bytes=0-7' });
  check(g.status === 206 && g.bytes.subarray(1, 4).toString() === 'PNG', `preview range: ${g.status}`);
  // HEAD (download managers, proxies, health checks): a GET's status and headers, no body; the
  // kept-alive connection then serves the next request (fetch pools it)
  g = await get(url, {}, 'HEAD');
  check(g.status === 200 && Number(g.headers.get('content-length')) === tif.length && g.headers.get('content-type') === 'image/tiff'
    && g.headers.get('accept-ranges') === 'bytes' && g.bytes.length === 0, `HEAD: ${g.status} ${g.headers.get('content-length')} ${g.bytes.length}`);
  g = await get(url, { range: 'bytes=10-19' }, 'HEAD');
  check(g.status === 206 && g.headers.get('content-range') === `bytes 10-19/${tif.length}` && Number(g.headers.get('content-length')) === 10,
    `HEAD with a range: ${g.status} ${g.headers.get('content-range')}`);
  g = await get(`/api/results/nosuch.r1/artifacts`, {}, 'HEAD');
  check(g.status === 404 && g.bytes.length === 0, `HEAD of an unknown result: ${g.status}`);
  g = await get(url, { range: 'bytes=0-9' });
  check(g.status === 206 && Buffer.compare(g.bytes, tif.subarray(0, 10)) === 0, `GET after HEAD: ${g.status} ${g.bytes.length}`);
  // validators: an ETag and Last-Modified; If-None-Match that names it is 304 with no body; a
  // Range under an If-Range that is still it (or its date) is honoured, under a stale one the
  // whole file comes (a browser resuming a download that changed starts again)
  g = await get(url);
  const etag = g.headers.get('etag'), modified = g.headers.get('last-modified');
  check(/^"[0-9a-f]+-[0-9a-f]+"$/.test(etag || '') && !Number.isNaN(Date.parse(modified)), `validators: ${etag} ${modified}`);
  g = await get(url, { 'if-none-match': etag });
  check(g.status === 304 && g.bytes.length === 0 && g.headers.get('etag') === etag, `If-None-Match: ${g.status} ${g.bytes.length}`);
  g = await get(url, { 'if-none-match': `"other", W/${etag}` });
  check(g.status === 304, `If-None-Match in a list, weak: ${g.status}`);
  g = await get(url, { 'if-none-match': '"other"' });
  check(g.status === 200 && g.bytes.length === tif.length, `If-None-Match of another: ${g.status}`);
  for (const [ifRange, want] of [[etag, 206], [modified, 206], ['"stale"', 200], ['Thu, 01 Jan 1970 00:00:00 GMT', 200]]) {
    g = await get(url, { range: 'bytes=0-9', 'if-range': ifRange });
    check(g.status === want && g.bytes.length === (want === 206 ? 10 : tif.length), `If-Range ${ifRange}: ${g.status} ${g.bytes.length}`);
  }
  const pv = await get(`/api/results/${rid}/artifacts/preview.png`);
  g = await get(`/api/results/${rid}/artifacts/preview.png`, { 'if-none-match': pv.headers.get('etag') });
  check(pv.headers.get('etag') && g.status === 304 && g.bytes.length === 0, `the preview's ETag: ${pv.headers.get('etag')} ${g.status}`);

  // refusals
  const refusals = [
    ['GET', `/api/results/nosuch.r1/artifacts`, 404, 'UNKNOWN_RESULT'],
    ['GET', `/api/results/nosuch.r1/artifacts/preview.png`, 404, 'UNKNOWN_RESULT'],
    ['GET', `/api/results/${rid}/artifacts/nosuch.png`, 404, 'UNKNOWN_ARTIFACT'],
    ['GET', `/api/results/${rid}/artifacts/.preview.png.tmp`, 405, 'METHOD_NOT_ALLOWED'],
    ['GET', `/api/results/${rid}/artifacts/%2e%2e%2f%2e%2e%2fetc%2fpasswd`, null, null],
    ['GET', `/api/results/${rid}/artifacts/a/b`, 405, 'METHOD_NOT_ALLOWED'],
    ['POST', `/api/results/${rid}/artifacts/labels.tif`, 405, 'METHOD_NOT_ALLOWED'],
  ];
  for (const [method, path, status, code] of refusals) {
    r = await http(method, path, method === 'POST' ? {} : undefined);
    if (status === null) // whatever lws makes of it: never a file
      check(r.status >= 400 && r.status < 500 && r.body?.error, `${path}: ${r.status} ${r.text.slice(0, 80)}`);
    else
      check(r.status === status && r.body?.error?.code === code, `${method} ${path}: ${r.status} ${r.text}`);
  }
  // a link where a listed artifact was: not followed
  fs.renameSync(`${DIR}/${rid}/objects.csv`, `${DIR}/${rid}/objects.csv.real`);
  fs.symlinkSync('/etc/passwd', `${DIR}/${rid}/objects.csv`);
  r = await http('GET', `/api/results/${rid}/artifacts/objects.csv`);
  check(r.status === 404 && r.body.error.code === 'ARTIFACT_GONE', `a symlink: ${r.status} ${r.text.slice(0, 100)}`);
  fs.unlinkSync(`${DIR}/${rid}/objects.csv`);
  r = await http('GET', `/api/results/${rid}/artifacts/objects.csv`);
  check(r.status === 404 && r.body.error.code === 'ARTIFACT_GONE', `a removed file: ${r.status}`);
  fs.renameSync(`${DIR}/${rid}/objects.csv.real`, `${DIR}/${rid}/objects.csv`);
  console.log(`ok artifacts: 3 listed with sizes, bytes equal the files, 4 ranges, 416, every refusal`);
}

async function withoutResultsDir() {
  let g = await get(`/api/results/${rid}/artifacts/preview.png`);
  check(g.status === 200 && g.bytes.subarray(1, 4).toString() === 'PNG', `preview from Redis: ${g.status}`);
  const r = await http('GET', `/api/results/${rid}/artifacts/labels.tif`);
  check(r.status === 503 && r.body.error.code === 'ARTIFACT_UNAVAILABLE', `no --results-dir: ${r.status} ${r.text}`);
  g = await get(`/api/results/${rid}/artifacts`);
  check(g.status === 200, 'the list without --results-dir');
  console.log('ok without --results-dir: the preview comes from Redis, the rest is 503 ARTIFACT_UNAVAILABLE');
}

// A 64 MB artifact (result big.r1, set up by the driver): clients that go away in the middle of
// it, one after another, and a file cut short while it is being sent. The gateway reads files on
// its thread pool: a connection that closes while a read is in flight must not be touched after,
// and a file that ends early cuts the connection instead of hanging it. It keeps answering.
async function cuts() {
  const big = `/api/results/big.r1/artifacts/big.tif`, file = `${DIR}/big.r1/big.tif`;
  const size = fs.statSync(file).size;
  for (let i = 0; i < 20; i++) {
    const ac = new AbortController();
    const res = await fetch(`http://${process.env.ZSA_GATEWAY}${big}`, { signal: ac.signal });
    const reader = res.body.getReader();
    await reader.read(); // the first bytes, then gone
    ac.abort();
    await reader.read().catch(() => {});
  }
  let g = await get(big, { range: 'bytes=0-9' });
  check(g.status === 206 && g.bytes.length === 10, `after 20 aborted downloads: ${g.status}`);
  const res = await fetch(`http://${process.env.ZSA_GATEWAY}${big}`);
  const reader = res.body.getReader();
  let got = (await reader.read()).value.length;
  fs.truncateSync(file, 1 << 20); // 1 MB of the 64 the headers promised
  let cut = false;
  try {
    for (let r; !(r = await reader.read()).done;) got += r.value.length;
  } catch {
    cut = true;
  }
  check((cut || got < size) && got <= size, `a file cut short: ${got} of ${size} bytes, cut ${cut}`);
  g = await get('/healthz');
  check(g.status === 200, `the gateway after the cuts: ${g.status}`);
  console.log(`ok cuts: 20 downloads abandoned mid-way, a file cut short (${got} of ${size} bytes came, then the connection)`);
}

run(async () => {
  await previews();
  if (process.env.ZSA_NO_RESULTS_DIR) await withoutResultsDir();
  else await rest();
  if (process.env.ZSA_BIG_RESULT) await cuts();
});
