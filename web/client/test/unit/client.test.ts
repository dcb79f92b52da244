import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ZsaClient, type ConnectionStatus, type ZsaConnectionError } from '../../src/client';
import { SendQueue } from '../../src/queue';
import { ZsaRest } from '../../src/rest';
import { FakeWS } from './fake_ws';

const progress = (id: string, eventId: string, session = 's1') => ({
  event_type: 'processing_progress', event_id: eventId, timestamp: 't', session_id: session,
  job_id: id, image_id: 'i', progress: 50, current_step: 'x', eta_seconds: null,
});

function client(extra: object = {}) {
  return new ZsaClient({ url: 'http://gw:8080', sessionId: 's1', WebSocket: FakeWS, backoff: { jitter: 0 }, ...extra });
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWS.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ZsaClient', () => {
  it('goes connecting -> open -> reconnecting -> open, with the document\'s backoff', () => {
    const c = client();
    const seen: ConnectionStatus[] = [];
    c.onStatus((s) => seen.push(s));
    c.connect();
    expect(FakeWS.last().url).toBe('ws://gw:8080/ws?session_id=s1');
    expect(FakeWS.last().protocols).toBe('zsa.v1.json');
    FakeWS.last().open();
    FakeWS.last().connected();
    expect(c.status).toBe('open');
    expect(c.clientId).toBe('c-1');
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      FakeWS.last().drop();
      const before = FakeWS.all.length;
      let waited = 0;
      while (FakeWS.all.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    FakeWS.last().open();
    FakeWS.last().connected();
    expect(c.attempts).toBe(0);
    expect(seen).toEqual(['connecting', 'open', 'reconnecting', 'open']);
  });

  it('queues messages while down and sends them in order once connected', () => {
    const c = client();
    c.send({ type: 'ping' });
    c.send({ type: 'cancel', job_id: 'j1' });
    expect(c.queued).toBe(2);
    c.connect();
    FakeWS.last().open();
    expect(FakeWS.last().sent).toEqual([]); // not before connected
    FakeWS.last().connected();
    expect(FakeWS.last().sent).toEqual([{ type: 'ping' }, { type: 'cancel', job_id: 'j1' }]);
    c.send({ type: 'ping' });
    expect(FakeWS.last().sent).toHaveLength(3);
    expect(c.queued).toBe(0);
  });

  it('bounds the queue, dropping the oldest', () => {
    const q = new SendQueue<number>(3);
    [1, 2, 3, 4, 5].forEach((n) => q.push(n));
    expect(q.drain()).toEqual([3, 4, 5]);
    expect(q.dropped).toBe(2);
  });

  it('reconnects after 45 s without any message (heartbeat timeout)', () => {
    const c = client();
    c.connect();
    FakeWS.last().open();
    FakeWS.last().connected();
    vi.advanceTimersByTime(40000);
    FakeWS.last().receive({ event_type: 'heartbeat', timestamp: 't', server_time: 't' });
    vi.advanceTimersByTime(40000);
    expect(FakeWS.all).toHaveLength(1); // the heartbeat kept it alive
    vi.advanceTimersByTime(5001);
    expect(FakeWS.all[0].closedWith?.code).toBe(4000);
    expect(c.status).toBe('reconnecting');
    vi.advanceTimersByTime(1000);
    expect(FakeWS.all).toHaveLength(2);
  });

  it('resumes after the last event of its session, and starts over after a truncated replay', () => {
    const c = client();
    const resyncs: unknown[] = [];
    c.onResync((m) => resyncs.push(m));
    c.connect();
    FakeWS.last().open();
    FakeWS.last().connected();
    FakeWS.last().receive(progress('j1', '100-1'));
    FakeWS.last().receive(progress('j1', '100-2'));
    FakeWS.last().receive({ ...progress('j9', '500-0'), session_id: undefined }); // a broadcast
    FakeWS.last().receive(progress('j8', '900-0', 'other'));
    expect(c.lastEventId).toBe('100-2');
    FakeWS.last().drop();
    vi.advanceTimersByTime(1000);
    expect(FakeWS.last().url).toBe('ws://gw:8080/ws?session_id=s1&last_event_id=100-2');
    FakeWS.last().open();
    FakeWS.last().connected('s1', { resumed: true });
    FakeWS.last().receive({ event_type: 'replay_complete', timestamp: 't', count: 1000, truncated: true, streams: ['session'] });
    expect(resyncs).toHaveLength(1);
    expect(c.lastEventId).toBeUndefined();
  });

  it('learns its session from connected and keeps it across reconnects', () => {
    const c = new ZsaClient({ url: 'wss://gw/ws', WebSocket: FakeWS, backoff: { jitter: 0 } });
    c.connect();
    expect(FakeWS.last().url).toBe('wss://gw/ws');
    FakeWS.last().open();
    FakeWS.last().connected('s-generated');
    FakeWS.last().drop();
    vi.advanceTimersByTime(1000);
    expect(FakeWS.last().url).toBe('wss://gw/ws?session_id=s-generated');
  });

  it('authenticates first, refreshes the token before it expires, stops on 4003', async () => {
    let n = 0;
    const c = client({ token: () => `tok${++n}`, refreshBeforeExpiryMs: 60000 });
    const errors: ZsaConnectionError[] = [];
    c.onError((e) => errors.push(e));
    c.connect();
    FakeWS.last().open();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeWS.last().sent).toEqual([{ type: 'auth', token: 'tok1' }]);
    FakeWS.last().connected('s1', { token_expires_at: new Date(Date.now() + 120000).toISOString() });
    const live = async (ms: number) => { // time passes with the server's heartbeats
      for (let t = 0; t < ms; t += 1000) {
        await vi.advanceTimersByTimeAsync(1000);
        if (t % 20000 === 0) FakeWS.last().receive({ event_type: 'heartbeat', timestamp: 't', server_time: 't' });
      }
    };
    await live(59000);
    expect(FakeWS.all).toHaveLength(1);
    expect(FakeWS.last().sent).toHaveLength(1);
    await live(2000);
    expect(FakeWS.last().sent).toEqual([{ type: 'auth', token: 'tok1' }, { type: 'auth', token: 'tok2' }]);
    // expired anyway: 4001 with a token source reconnects with a fresh token
    FakeWS.last().drop(4001, 'token expired');
    await vi.advanceTimersByTimeAsync(1000);
    FakeWS.last().open();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeWS.last().sent).toEqual([{ type: 'auth', token: 'tok3' }]);
    FakeWS.last().drop(4003, 'this token does not allow this session_id');
    expect(c.status).toBe('closed');
    expect(errors.map((e) => e.code)).toEqual([4003]);
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeWS.all).toHaveLength(2); // no reconnect after 4003
  });

  it('stops with an error on 4001 when the token cannot be renewed, and after maxReconnectAttempts', () => {
    const c = client({ token: 'fixed' });
    const errors: ZsaConnectionError[] = [];
    c.onError((e) => errors.push(e));
    c.connect();
    FakeWS.last().drop(4001, 'token expired');
    expect(c.status).toBe('closed');
    const d = client({ maxReconnectAttempts: 2 });
    d.onError((e) => errors.push(e));
    d.connect();
    FakeWS.last().drop();
    vi.advanceTimersByTime(1000);
    FakeWS.last().drop();
    vi.advanceTimersByTime(2000);
    FakeWS.last().drop();
    expect(d.status).toBe('closed');
    expect(errors.map((e) => e.code)).toEqual([4001, 1006]);
  });

  it('follows more sessions, resubscribing after a reconnect after the last event of each', () => {
    const c = client();
    c.subscribe('s2');
    c.connect();
    FakeWS.last().open();
    FakeWS.last().connected();
    expect(FakeWS.last().sent).toEqual([{ type: 'subscribe', session_id: 's2' }]);
    c.subscribe('s3', '7-0');
    expect(FakeWS.last().sent).toContainEqual({ type: 'subscribe', session_id: 's3', last_event_id: '7-0' });
    FakeWS.last().receive(progress('j1', '10-0', 's2'));
    FakeWS.last().receive(progress('j2', '11-0', 's1'));
    FakeWS.last().receive(progress('j3', '12-0', 's3'));
    expect([c.lastEventId, c.subscriptions.get('s2'), c.subscriptions.get('s3')]).toEqual(['11-0', '10-0', '12-0']);
    c.unsubscribe('s3');
    expect(FakeWS.last().sent).toContainEqual({ type: 'unsubscribe', session_id: 's3' });
    FakeWS.last().drop();
    vi.advanceTimersByTime(1000);
    expect(FakeWS.last().url).toBe('ws://gw:8080/ws?session_id=s1&last_event_id=11-0');
    FakeWS.last().open();
    FakeWS.last().connected('s1', { resumed: true });
    expect(FakeWS.last().sent).toEqual([{ type: 'subscribe', session_id: 's2', last_event_id: '10-0' }]);
    // a truncated replay of a subscription starts that one over, not the own session
    FakeWS.last().receive({ event_type: 'replay_complete', timestamp: 't', count: 5, truncated: true, streams: ['session'], session_id: 's2' });
    expect([c.lastEventId, c.subscriptions.get('s2')]).toEqual(['11-0', undefined]);
  });

  it('dispatches typed messages by type, and close() stops for good', () => {
    const c = client();
    const got: number[] = [];
    c.on('processing_progress', (m) => got.push(m.progress));
    c.connect();
    FakeWS.last().open();
    FakeWS.last().connected();
    FakeWS.last().receive(progress('j1', '1-1'));
    FakeWS.last().receive({ event_type: 'pong', timestamp: 't' });
    expect(got).toEqual([50]);
    c.close();
    expect(FakeWS.last().closedWith?.code).toBe(1000);
    vi.advanceTimersByTime(100000);
    expect(FakeWS.all).toHaveLength(1);
    expect(c.status).toBe('closed');
  });
});

describe('ZsaRest artifacts', () => {
  it('lists, fetches whole and by range, with the token, and names refusals', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = [];
    const f = (async (url: string, init: { headers: Record<string, string> }) => {
      seen.push({ url, headers: init.headers });
      if (url.endsWith('/artifacts')) return new Response(JSON.stringify({ result_id: 'j 1', artifacts: [], count: 0 }), { status: 200 });
      if (url.endsWith('/nope.png')) return new Response('{"error":{"code":"UNKNOWN_ARTIFACT","message":"no"}}', { status: 404 });
      return new Response(new Uint8Array([1, 2, 3]), { status: init.headers.range ? 206 : 200 });
    }) as unknown as typeof fetch;
    const rest = new ZsaRest({ url: 'ws://gw:8080/ws', token: 'tok', fetch: f });
    expect((await rest.listArtifacts('j 1')).count).toBe(0);
    expect(seen[0].url).toBe('http://gw:8080/api/results/j%201/artifacts');
    expect(seen[0].headers.authorization).toBe('Bearer tok');
    const b = await rest.fetchArtifact('j1.r1', 'labels.tif', [0, 99]);
    expect(new Uint8Array(await b.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    expect(seen[1].headers.range).toBe('bytes=0-99');
    await expect(rest.fetchArtifact('j1.r1', 'nope.png')).rejects.toMatchObject({ status: 404, code: 'UNKNOWN_ARTIFACT' });
    expect(rest.artifactPath('a.r1', 'preview.png')).toBe('/api/results/a.r1/artifacts/preview.png');
  });
});

describe('ZsaClient previews', () => {
  it('asks for previews in the URL, and hands a preview message over like any other', () => {
    const c = client({ url: 'ws://gw:8080', previews: true });
    const got: unknown[] = [];
    c.on('preview', (m) => got.push(m));
    c.connect();
    expect(FakeWS.last().url).toBe('ws://gw:8080/ws?session_id=s1&previews=1');
    FakeWS.last().open();
    FakeWS.last().connected();
    FakeWS.last().receive({ event_type: 'preview', timestamp: 't', job_id: 'j1', result_id: 'j1.r1', content_type: 'image/png',
      width: 4, height: 3, url: '/api/results/j1.r1/artifacts/preview.png' });
    expect(got).toHaveLength(1);
    c.close();
  });
});
