// The connection to a zsa gateway (docs/PROTOCOL.md): one WebSocket, reconnected with backoff,
// resumed after the last event id it saw, authenticated with an auth message, watched by a
// heartbeat timeout; messages sent while it is down wait in a queue.
import { decode, encode } from '@msgpack/msgpack';
import { backoffDelay, type BackoffOptions } from './backoff';
import type { ClientMessage, Connected, ReplayComplete, ServerMessage } from './messages.gen';
import { SendQueue } from './queue';

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What the client needs of a WebSocket: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** A token, or a function that gets a fresh one (called at each connect and before expiry). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ZsaClientOptions {
  /** the gateway: ws(s)://host[:port][/ws], or http(s)://host[:port] */
  url: string;
  /** the session to follow; absent: the token's only session, or a new one */
  sessionId?: string;
  token?: TokenSource;
  /** JSON text (default) or MessagePack binary messages */
  encoding?: 'json' | 'msgpack';
  /** a `preview` message after each processing_complete that has one (MessagePack: with the
   * PNG bytes in `data`; JSON: its `url`) */
  previews?: boolean;
  /** give up after this many failed reconnects in a row (default: never) */
  maxReconnectAttempts?: number;
  /** no message (not even a heartbeat) for this long: reconnect (default 45000 ms) */
  heartbeatTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** messages kept while disconnected (default 1000; older ones are dropped) */
  queueMax?: number;
  /** send a fresh token this long before the current one expires (default 60000 ms) */
  refreshBeforeExpiryMs?: number;
  /** the WebSocket class (default: globalThis.WebSocket) */
  WebSocket?: WebSocketCtor;
}

/** Why the client stopped for good (status 'closed' without close()). */
export class ZsaConnectionError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'ZsaConnectionError';
  }
}

type MessageOf<T extends ServerMessage['event_type']> = Extract<ServerMessage, { event_type: T }>;
type Handler<T> = (value: T) => void;

export class ZsaClient {
  status: ConnectionStatus = 'closed';
  clientId: string | undefined;
  sessionId: string | undefined;
  /** the last event of the session stream this client has: a reconnect resumes after it */
  lastEventId: string | undefined;
  /** the other sessions followed (subscribe), each with the last event this client has of it */
  readonly subscriptions = new Map<string, string | undefined>();
  /** failed reconnects in a row */
  attempts = 0;
  tokenExpiresAt: Date | undefined;

  private ws: WebSocketLike | null = null;
  private readonly queue: SendQueue<ClientMessage>;
  private readonly opts: Required<Pick<ZsaClientOptions, 'heartbeatTimeoutMs' | 'refreshBeforeExpiryMs'>> &
    ZsaClientOptions;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = true;
  private readonly listeners = new Map<string, Set<Handler<never>>>();

  constructor(options: ZsaClientOptions) {
    this.opts = { heartbeatTimeoutMs: 45000, refreshBeforeExpiryMs: 60000, ...options };
    this.queue = new SendQueue(options.queueMax ?? 1000);
    this.sessionId = options.sessionId;
  }

  /** Every server message. */
  onMessage(fn: Handler<ServerMessage>): () => void {
    return this.listen('*', fn);
  }

  /** Messages of one type, typed: on('processing_progress', (m) => m.progress). */
  on<T extends ServerMessage['event_type']>(type: T, fn: Handler<MessageOf<T>>): () => void {
    return this.listen(type, fn);
  }

  onStatus(fn: Handler<ConnectionStatus>): () => void {
    return this.listen('status', fn);
  }

  /** A replay said events were lost (truncated): re-read the session's jobs over REST. */
  onResync(fn: Handler<ReplayComplete>): () => void {
    return this.listen('resync', fn);
  }

  /** The client stopped for good: a refused token, a session it may not join, or too many
   * failed reconnects. */
  onError(fn: Handler<ZsaConnectionError>): () => void {
    return this.listen('error', fn);
  }

  connect(): void {
    if (!this.stopped)
      return;
    this.stopped = false;
    this.attempts = 0;
    this.open();
  }

  /** Closes the connection for good (no reconnect). */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    this.dropSocket(1000, 'client closed');
    this.setStatus('closed');
  }

  /** Drops the connection now and connects again at once (resuming). */
  reconnect(): void {
    this.stopped = false;
    this.attempts = 0;
    this.clearTimers();
    this.dropSocket(4000, 'reconnect');
    this.open();
  }

  /** Follows one more session on this connection (the gateway replays it after the last event
   * this client has of it, and again after every reconnect). */
  subscribe(sessionId: string, lastEventId?: string): void {
    if (sessionId === this.sessionId || this.subscriptions.has(sessionId)) return;
    this.subscriptions.set(sessionId, lastEventId);
    if (this.status === 'open') this.write(this.subscribeMsg(sessionId));
  }

  unsubscribe(sessionId: string): void {
    if (!this.subscriptions.delete(sessionId)) return;
    if (this.status === 'open') this.write({ type: 'unsubscribe', session_id: sessionId });
  }

  private subscribeMsg(sessionId: string): ClientMessage {
    const last = this.subscriptions.get(sessionId);
    return last ? { type: 'subscribe', session_id: sessionId, last_event_id: last } : { type: 'subscribe', session_id: sessionId };
  }

  /** Sends a client message now when connected, else when the connection is back. */
  send(msg: ClientMessage): void {
    if (this.status === 'open' && this.ws)
      this.write(msg);
    else
      this.queue.push(msg);
  }

  get queued(): number {
    return this.queue.length;
  }

  // ---- internals ------------------------------------------------------------------------------

  private listen(key: string, fn: Handler<never>): () => void {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  private emit(key: string, value: unknown): void {
    for (const fn of this.listeners.get(key) ?? []) (fn as Handler<unknown>)(value);
  }

  private setStatus(s: ConnectionStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  private wsUrl(): string {
    let base = this.opts.url.replace(/^http(s?):\/\//, 'ws$1://').replace(/\/+$/, '');
    if (!/\/ws$/.test(base)) base += '/ws';
    const q = new URLSearchParams();
    if (this.sessionId) q.set('session_id', this.sessionId);
    if (this.lastEventId) q.set('last_event_id', this.lastEventId);
    if (this.opts.previews) q.set('previews', '1');
    const qs = q.toString();
    return qs ? `${base}?${qs}` : base;
  }

  private open(): void {
    const Ctor = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket: pass options.WebSocket (e.g. the ws package)');
    this.setStatus(this.clientId === undefined && this.attempts === 0 ? 'connecting' : 'reconnecting');
    const proto = this.opts.encoding === 'msgpack' ? 'zsa.v1.msgpack' : 'zsa.v1.json';
    const ws = new Ctor(this.wsUrl(), proto);
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.armHeartbeat();
      if (this.opts.token !== undefined) void this.sendToken(ws);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.armHeartbeat();
      let m: ServerMessage;
      try {
        m = (typeof ev.data === 'string'
          ? JSON.parse(ev.data)
          : decode(ev.data instanceof ArrayBuffer ? new Uint8Array(ev.data) : (ev.data as Uint8Array))) as ServerMessage;
      } catch {
        return; // not a message of ours: nothing to do with it
      }
      this.handle(m);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private async sendToken(ws: WebSocketLike): Promise<void> {
    const t = this.opts.token;
    let token: string;
    try {
      token = typeof t === 'function' ? await t() : (t as string);
    } catch (e) {
      this.fail(new ZsaConnectionError(`the token source failed: ${(e as Error).message}`, 4001));
      return;
    }
    if (this.ws === ws && ws.readyState === 1) this.write({ type: 'auth', token }, ws);
  }

  private write(msg: ClientMessage, ws: WebSocketLike | null = this.ws): void {
    if (!ws) return;
    ws.send(this.opts.encoding === 'msgpack' ? encode(msg) : JSON.stringify(msg));
  }

  private handle(m: ServerMessage): void {
    switch (m.event_type) {
      case 'connected':
        this.connected(m);
        break;
      case 'replay_complete':
        if (m.truncated) { // what came before is gone: start from now
          if (m.session_id && m.session_id !== this.sessionId) this.subscriptions.set(m.session_id, undefined);
          else this.lastEventId = undefined;
          this.emit('resync', m);
        }
        break;
      default:
        if ('event_id' in m && m.event_id && 'session_id' in m && m.session_id) {
          if (m.session_id === this.sessionId) this.lastEventId = m.event_id;
          else if (this.subscriptions.has(m.session_id)) this.subscriptions.set(m.session_id, m.event_id);
        }
    }
    this.emit(m.event_type, m);
    this.emit('*', m);
  }

  private connected(m: Connected): void {
    this.clientId = m.client_id;
    this.sessionId = m.session_id;
    this.attempts = 0;
    this.setStatus('open');
    this.tokenExpiresAt = m.token_expires_at ? new Date(m.token_expires_at) : undefined;
    this.scheduleRefresh();
    for (const sid of this.subscriptions.keys()) this.write(this.subscribeMsg(sid)); // after a reconnect too
    for (const q of this.queue.drain()) this.write(q);
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    if (!this.tokenExpiresAt || typeof this.opts.token !== 'function') return;
    const wait = this.tokenExpiresAt.getTime() - Date.now() - this.opts.refreshBeforeExpiryMs;
    this.refreshTimer = setTimeout(() => {
      if (this.ws) void this.sendToken(this.ws);
    }, Math.max(0, wait));
  }

  private armHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => {
      // silent for too long: the connection is dead even if the socket does not know it yet
      const ws = this.ws;
      this.ws = null;
      ws?.close(4000, 'heartbeat timeout');
      this.closed(4000, 'heartbeat timeout');
    }, this.opts.heartbeatTimeoutMs);
  }

  private closed(code: number, reason: string): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.refreshTimer);
    if (this.stopped) {
      this.setStatus('closed');
      return;
    }
    if (code === 4003) {
      this.fail(new ZsaConnectionError(reason || 'the token does not allow this session', code));
      return;
    }
    if (code === 4001 && typeof this.opts.token !== 'function') {
      this.fail(new ZsaConnectionError(reason || 'the token was refused', code));
      return;
    }
    const max = this.opts.maxReconnectAttempts ?? Infinity;
    if (this.attempts >= max) {
      this.fail(new ZsaConnectionError(`gave up after ${this.attempts} reconnect attempts`, code));
      return;
    }
    this.setStatus('reconnecting');
    const delay = backoffDelay(this.attempts, this.opts.backoff);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private fail(e: ZsaConnectionError): void {
    this.stopped = true;
    this.clearTimers();
    this.dropSocket(1000, 'stopped');
    this.setStatus('closed');
    this.emit('error', e);
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close(code, reason);
  }

  private clearTimers(): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
  }
}
