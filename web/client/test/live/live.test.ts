// @zsa/client against a real zsa-gateway, worker and redis-server (started by
// tests/integration/test_web.c, which passes ZSA_GATEWAY and ZSA_KEYS_FILE): a client whose
// connection drops mid-job resumes and gets every event exactly once; JSON and MessagePack
// clients get the same events; the REST client and the WebSocket client share a token.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { ZsaApiError, ZsaClient, ZsaRest, type ServerMessage, type WebSocketCtor } from '../../src';

const GATEWAY = process.env.ZSA_GATEWAY;
if (!GATEWAY) throw new Error('ZSA_GATEWAY is not set: tests/integration/test_web.c runs this');
const url = `http://${GATEWAY}`;

// a token as a backend mints it (docs/PROTOCOL.md, "Access tokens")
function token(sessions: string[], scope: string[]): string {
  const [kid, secret] = readFileSync(process.env.ZSA_KEYS_FILE!, 'utf8').trim().split(/\s+/);
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ kid, sub: 'web-live', sessions, scope, exp: now + 600, iat: now })).toString('base64url');
  const mac = createHmac('sha256', Buffer.from(secret, 'base64url')).update(`v1.${payload}`).digest('base64url');
  return `v1.${payload}.${mac}`;
}

// the ws package, remembering its sockets so that a test can cut one
const sockets: WebSocket[] = [];
class TrackedWS extends WebSocket {
  constructor(u: string, p?: string | string[]) {
    super(u, p);
    sockets.push(this);
  }
}
const WS = TrackedWS as unknown as WebSocketCtor;

function collect(c: ZsaClient, jobId: string): { events: ServerMessage[]; done: Promise<void> } {
  const events: ServerMessage[] = [];
  const done = new Promise<void>((resolve) => {
    c.onMessage((m) => {
      if ('job_id' in m && m.job_id === jobId) {
        events.push(m);
        if (m.event_type === 'processing_complete') resolve();
      }
    });
  });
  return { events, done };
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 10000) => {
  for (const end = Date.now() + ms; !(await cond()); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('timed out');
};

describe('@zsa/client against a real gateway', () => {
  it('resumes after a dropped connection and gets every event exactly once', async () => {
    const tok = token(['web1'], ['read', 'submit']);
    const rest = new ZsaRest({ url, token: tok });
    const observer = new ZsaClient({ url, sessionId: 'web1', token: tok, WebSocket: WS });
    const dropped = new ZsaClient({ url, sessionId: 'web1', token: tok, WebSocket: WS, backoff: { initialMs: 200 } });
    observer.connect();
    dropped.connect();
    await until(() => observer.status === 'open' && dropped.status === 'open');
    const sub = await rest.submitJob({ image_id: 'w', algorithm: 'simulate', parameters: { duration_seconds: 3, steps: 30 } });
    expect(sub.status).toBe('queued');
    const a = collect(observer, sub.job_id), b = collect(dropped, sub.job_id);
    await until(() => b.events.length >= 5);
    const mine = sockets.filter((s) => s.readyState === WebSocket.OPEN).pop()!;
    mine.terminate(); // the network drops it: no close frame
    await until(() => dropped.status === 'reconnecting');
    await Promise.all([a.done, b.done]);
    const ids = (e: ServerMessage[]) => e.map((m) => ('event_id' in m ? m.event_id : ''));
    expect(ids(b.events)).toEqual(ids(a.events));
    expect(new Set(ids(b.events)).size).toBe(b.events.length);
    expect(b.events.at(-1)?.event_type).toBe('processing_complete');
    observer.close();
    dropped.close();
  }, 30000);

  it('gives the same events to JSON and MessagePack clients', async () => {
    const tok = token(['web2'], ['read', 'submit']);
    const json = new ZsaClient({ url, sessionId: 'web2', token: tok, WebSocket: WS });
    const mp = new ZsaClient({ url, sessionId: 'web2', token: tok, WebSocket: WS, encoding: 'msgpack' });
    json.connect();
    mp.connect();
    await until(() => json.status === 'open' && mp.status === 'open');
    const sub = await new ZsaRest({ url, token: tok }).submitJob({ image_id: 'w', algorithm: 'simulate', parameters: { duration_seconds: 0.5, steps: 5 } });
    const a = collect(json, sub.job_id), b = collect(mp, sub.job_id);
    await Promise.all([a.done, b.done]);
    expect(b.events).toEqual(a.events);
    json.close();
    mp.close();
  }, 30000);

  it('follows several sessions on one connection, each event once, nothing of the others', async () => {
    const tok = token(['web4a', 'web4b', 'web4c'], ['read', 'submit']);
    const rest = new ZsaRest({ url, token: tok });
    const c = new ZsaClient({ url, sessionId: 'web4a', token: tok, WebSocket: WS, backoff: { initialMs: 200 } });
    const all: ServerMessage[] = [];
    c.onMessage((m) => all.push(m));
    c.subscribe('web4b');
    c.connect();
    await until(() => all.some((m) => m.event_type === 'subscribed'));
    const jobs = await Promise.all(['web4a', 'web4b', 'web4c'].map((s) =>
      rest.submitJob({ image_id: s, algorithm: 'simulate', session_id: s, parameters: { duration_seconds: 1, steps: 10 } })));
    const [a, b] = [collect(c, jobs[0].job_id), collect(c, jobs[1].job_id)];
    await until(() => b.events.length >= 3);
    // the network drops the socket mid-job: both sessions resume where they were
    sockets.filter((s) => s.readyState === WebSocket.OPEN).pop()!.terminate();
    await until(() => c.status === 'reconnecting');
    await Promise.all([a.done, b.done]);
    await until(async () => (await rest.getJob(jobs[2].job_id)).status === 'complete');
    await new Promise((r) => setTimeout(r, 300));
    // every event once, across the resume (stream ids are unique per session, not across them)
    const ids = all.filter((m) => 'event_id' in m && m.event_id && 'job_id' in m)
      .map((m) => `${'session_id' in m ? m.session_id : ''}/${'event_id' in m ? m.event_id : ''}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(10);
    expect(b.events.at(-1)?.event_type).toBe('processing_complete');
    expect(all.some((m) => 'job_id' in m && m.job_id === jobs[2].job_id)).toBe(false);
    expect(all.filter((m) => m.event_type === 'subscribed')).toHaveLength(2); // again after the reconnect
    c.close();
  }, 30000);

  it('reports refusals: REST errors as ZsaApiError, a session the token does not allow as 4003', async () => {
    const tok = token(['web3'], ['read']);
    const rest = new ZsaRest({ url, token: tok });
    const err = await rest.submitJob({ image_id: 'w', algorithm: 'simulate' }).catch((e) => e);
    expect(err).toBeInstanceOf(ZsaApiError);
    expect([err.status, err.code]).toEqual([403, 'FORBIDDEN']);
    const c = new ZsaClient({ url, sessionId: 'elsewhere', token: tok, WebSocket: WS });
    const codes: number[] = [];
    c.onError((e) => codes.push(e.code));
    c.connect();
    await until(() => codes.length > 0);
    expect(codes).toEqual([4003]);
    expect(c.status).toBe('closed');
  }, 30000);
});
