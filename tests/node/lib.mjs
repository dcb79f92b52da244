// Shared helpers of the independent-client tests: Node's `ws` and @msgpack/msgpack from npm,
// written against docs/PROTOCOL.md, not against our C code. Each test script is run by a C
// integration test (tests/integration/test_clients.c) that starts redis-server and zsa-gateway and
// passes the gateway's address in ZSA_GATEWAY (host:port); a script exits 0 when every check held
// and 1 with the reason on stderr otherwise.
import WebSocket from 'ws';
import { decode, encode } from '@msgpack/msgpack';

export { WebSocket, decode, encode };

export const GATEWAY = process.env.ZSA_GATEWAY || '127.0.0.1:8080';

export function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

// Rejects after ms with what it was waiting for.
export function deadline(promise, ms, what) {
  let t;
  const timer = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timer]).finally(() => clearTimeout(t));
}

// A client with a message inbox: next(pred) resolves with the first message (decoded) that
// matches, in arrival order; closed resolves with {code, reason}.
export class Client {
  constructor(query = '', opts = {}) {
    const protocols = opts.protocols || (opts.msgpack ? ['zsa.v1.msgpack'] : undefined);
    this.ws = new WebSocket(`ws://${opts.gateway || GATEWAY}/ws${query}`, protocols, {
      perMessageDeflate: opts.deflate ?? false,
      ...(opts.ws || {}),
    });
    this.msgpack = !!opts.msgpack;
    this.inbox = [];
    this.waiters = [];
    this.extensions = null;
    this.ws.on('upgrade', (res) => { this.extensions = res.headers['sec-websocket-extensions'] || ''; });
    this.ws.on('message', (data, isBinary) => {
      const m = isBinary ? decode(data) : JSON.parse(data.toString());
      this.inbox.push(m);
      this.pump();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => { this.closeInfo = { code, reason: reason.toString() }; resolve(this.closeInfo); this.pump(); });
    });
    this.ws.on('error', (e) => { this.error = e; });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
      });
      this.ws.on('error', reject);
    });
  }

  pump() {
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      const k = this.inbox.findIndex(w.pred);
      if (k >= 0) {
        const [m] = this.inbox.splice(k, 1);
        this.waiters.splice(i--, 1);
        w.resolve(m);
      } else if (this.closeInfo) {
        this.waiters.splice(i--, 1);
        w.reject(new Error(`closed ${this.closeInfo.code} ${this.closeInfo.reason} while waiting for ${w.what}`));
      }
    }
  }

  next(pred = () => true, ms = 10000, what = 'a message') {
    const p = new Promise((resolve, reject) => { this.waiters.push({ pred, resolve, reject, what }); this.pump(); });
    return deadline(p, ms, what);
  }

  type(t, ms = 10000) {
    return this.next((m) => m.event_type === t, ms, t);
  }

  send(obj) {
    this.ws.send(this.msgpack ? encode(obj) : JSON.stringify(obj));
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

// Runs main and exits 0, or 1 with the error.
export function run(main) {
  main().then(() => process.exit(0), (e) => fail(e.stack || String(e)));
}

// HTTP request with fetch: {status, body (parsed JSON when it is JSON), text}.
// Access tokens minted the way docs/PROTOCOL.md tells an application backend to: HMAC-SHA256 of
// "v1.<base64url payload>" with a secret of the gateway's keys file (ZSA_KEYS_FILE).
import crypto from 'node:crypto';
import fs from 'node:fs';

export function keys(file = process.env.ZSA_KEYS_FILE) {
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [kid, secret] = t.split(/\s+/);
    out[kid] = secret;
  }
  return out;
}

export function mint(kid, secret, claims) {
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ kid, sub: 'node-test', iat: now, exp: now + 3600, ...claims })).toString('base64url');
  const mac = crypto.createHmac('sha256', Buffer.from(secret, 'base64url')).update(`v1.${payload}`).digest('base64url');
  return `v1.${payload}.${mac}`;
}

export async function http(method, path, body, headers = {}) {
  let res;
  try {
    res = await fetch(`http://${GATEWAY}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  } catch (e) { // fetch says only "fetch failed": say which request, and why
    throw new Error(`${method} ${path}: ${e.message}: ${e.cause?.code || ''} ${e.cause?.message || e.cause || ''}`);
  }
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, body: json, text, headers: res.headers };
}
