// Generated from proto/schema.h by `zsa-proto ts` (make web-types): do not edit.
// `make test` fails when this file is out of date.

/** A worker took the job and started the analysis. (event) */
export interface ProcessingStarted {
  event_type: 'processing_started';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** the job the event is about */
  job_id: string;
  /** the image being analysed */
  image_id: string;
  /** algorithm name, e.g. segmentation_3d */
  algorithm: string;
  /** expected duration from the algorithm's measured throughput */
  estimated_time_seconds: number;
  /** the job's parameters, as submitted */
  parameters: Record<string, unknown>;
}

/** Progress of a running job: at most 10 per second per job; every step change and 100 % are always sent. (event) */
export interface ProcessingProgress {
  event_type: 'processing_progress';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** the job the event is about */
  job_id: string;
  /** the image being analysed */
  image_id: string;
  /** percent done */
  progress: number;
  /** human-readable step name */
  current_step: string;
  /** estimated seconds left; null when unknown */
  eta_seconds: number | null;
}

/** The job finished; the full result is at GET /api/results/{result_id}. (event) */
export interface ProcessingComplete {
  event_type: 'processing_complete';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** the job the event is about */
  job_id: string;
  /** the image analysed */
  image_id: string;
  /** key of the full result */
  result_id: string;
  /** algorithm-specific summary */
  summary: Record<string, unknown>;
  /** wall time of the job */
  processing_time_seconds: number;
  /** quality estimate, 0..1 */
  confidence_score: number;
}

/** The job ended without a result. (event) */
export interface ProcessingFailed {
  event_type: 'processing_failed';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** the job the event is about */
  job_id: string;
  /** the image */
  image_id: string;
  /** what went wrong, for humans */
  error: string;
  /** CUDA_OUT_OF_MEMORY, FILE_NOT_FOUND, INVALID_IMAGE, CANCELLED, TIMEOUT, WORKER_LOST, ... */
  error_code: string;
  /** whether POST .../retry may work */
  retry_available: boolean;
}

/** A result needs a human look (confidence below the threshold). (event) */
export interface ValidationRequired {
  event_type: 'validation_required';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** the job the event is about */
  job_id: string;
  /** the result to review */
  result_id: string;
  /** the result's confidence score */
  confidence: number;
  /** why a human should look */
  reason: string;
  /** what to check */
  suggested_actions: string[];
}

/** Cluster figures, broadcast every 5 s by the scheduler leader. (event) */
export interface SystemStatus {
  event_type: 'system_status';
  /** Redis stream entry id; absent until the event is stored, and on control messages */
  event_id?: string;
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp: string;
  /** the session the event belongs to; absent on broadcasts */
  session_id?: string;
  /** mean over GPU workers, percent */
  gpu_utilization: number;
  /** sum over GPU workers */
  gpu_memory_used_mb: number;
  /** sum over GPU workers */
  gpu_memory_total_mb: number;
  /** jobs waiting */
  queue_length: number;
  /** jobs held by live workers */
  active_processing_count: number;
  /** workers with a live heartbeat */
  workers_online: number;
}

/** First message on every WebSocket connection (only backend_status can come before it, while the gateway has lost Redis). (control) */
export interface Connected {
  event_type: 'connected';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** this connection's id */
  client_id: string;
  /** the session (generated when the URL had none) */
  session_id: string;
  /** seconds between heartbeats */
  heartbeat_interval_seconds: number;
  /** true when a replay follows */
  resumed: boolean;
  /** when the access token expires (absent when auth is off): send a fresh one before */
  token_expires_at?: string;
}

/** Every heartbeat_interval_seconds; a client that hears nothing for 45 s reconnects. (control) */
export interface Heartbeat {
  event_type: 'heartbeat';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** the gateway's clock */
  server_time: string;
}

/** End of the replay of missed events; truncated: re-sync from REST. (control) */
export interface ReplayComplete {
  event_type: 'replay_complete';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** events replayed */
  count: number;
  /** true when events were missed for good: re-sync from REST */
  truncated: boolean;
  /** the streams replayed: ["session"]; broadcast events (system_status, jobs without a session) are never replayed: re-read such jobs over REST */
  streams: string[];
  /** the session replayed */
  session_id?: string;
}

/** A client message was refused. (control) */
export interface Error {
  event_type: 'error';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** INVALID_MESSAGE, UNKNOWN_JOB, RATE_LIMITED, ... */
  code: string;
  /** names the field and the reason */
  message: string;
  /** RATE_LIMITED: the gateway reads this client's messages again after this long */
  retry_after_ms?: number;
}

/** The gateway lost Redis (no live events; cancels fail; REST answers 503) or has it back (events of the outage follow). Sent to every client when it changes, and on connect while it is lost (then before connected). (control) */
export interface BackendStatus {
  event_type: 'backend_status';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** true when the gateway reaches Redis again */
  available: boolean;
  /** what happened, for humans */
  message: string;
}

/** Answer to a ping. (control) */
export interface Pong {
  event_type: 'pong';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
}

/** A subscribe was accepted: the session's events follow (after its replay). (control) */
export interface Subscribed {
  event_type: 'subscribed';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** the session now followed */
  session_id: string;
  /** true when a replay follows */
  resumed: boolean;
}

/** An unsubscribe was done: no more events of the session. (control) */
export interface Unsubscribed {
  event_type: 'unsubscribed';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** the session no longer followed */
  session_id: string;
}

/** An auth message was accepted (connected follows the first one). (control) */
export interface Authenticated {
  event_type: 'authenticated';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** who the token is for (its sub) */
  subject: string;
  /** what it may do: read, submit, control, admin */
  scopes: string[];
  /** when it expires */
  token_expires_at: string;
}

/** A completed job's preview image, after its processing_complete, to a connection opened with ?previews=1 (never for broadcasts or replayed events). MessagePack clients get the PNG in data (a binary frame) when it is at most the gateway's --max-preview-kb; JSON clients, and larger previews, get only its url. (control) */
export interface Preview {
  event_type: 'preview';
  /** when it was emitted, RFC 3339 UTC with milliseconds */
  timestamp?: string;
  /** the job's session */
  session_id?: string;
  /** the job */
  job_id: string;
  /** its result */
  result_id: string;
  /** image/png */
  content_type: string;
  /** pixels */
  width: number;
  /** pixels */
  height: number;
  /** GET it over REST: /api/results/{result_id}/artifacts/... */
  url: string;
  /** the PNG (MessagePack only) */
  data?: Uint8Array;
}

/** Client liveness check; answered with pong. (client) */
export interface Ping {
  type: 'ping';
}

/** Cancel a queued or running job. (client) */
export interface Cancel {
  type: 'cancel';
  /** the job to cancel */
  job_id: string;
}

/** Replay the events after last_event_id. (client) */
export interface Resume {
  type: 'resume';
  /** the last event the client has */
  last_event_id: string;
}

/** Follow one more session on this connection (at most 16), replaying after last_event_id. (client) */
export interface Subscribe {
  type: 'subscribe';
  /** the session to follow too */
  session_id: string;
  /** replay its events after this one */
  last_event_id?: string;
}

/** Stop following a session subscribed to. (client) */
export interface Unsubscribe {
  type: 'unsubscribe';
  /** a session subscribed to on this connection */
  session_id: string;
}

/** The access token: first message when the URL carried none, or a fresh one before expiry. (client) */
export interface Auth {
  type: 'auth';
  /** v1.<payload>.<mac> (see Access tokens) */
  token: string;
}

/** A job as submitted (LPUSH on <prefix>:jobs or POST /api/jobs). (job) */
export interface Job {
  /** assigned when absent */
  job_id?: string;
  /** the image's id */
  image_id: string;
  /** the multi-page TIFF (algorithms that read one) */
  file_path?: string;
  /** simulate, segmentation_3d, max_projection, ... */
  algorithm: string;
  /** algorithm parameters */
  parameters?: Record<string, unknown>;
  /** where events go; absent: the broadcast stream */
  session_id?: string;
}

export type ZsaEvent =
  | ProcessingStarted
  | ProcessingProgress
  | ProcessingComplete
  | ProcessingFailed
  | ValidationRequired
  | SystemStatus;

export type ZsaControl =
  | Connected
  | Heartbeat
  | ReplayComplete
  | Error
  | BackendStatus
  | Pong
  | Subscribed
  | Unsubscribed
  | Authenticated
  | Preview;

export type ServerMessage =
  | ProcessingStarted
  | ProcessingProgress
  | ProcessingComplete
  | ProcessingFailed
  | ValidationRequired
  | SystemStatus
  | Connected
  | Heartbeat
  | ReplayComplete
  | Error
  | BackendStatus
  | Pong
  | Subscribed
  | Unsubscribed
  | Authenticated
  | Preview;

export type ClientMessage =
  | Ping
  | Cancel
  | Resume
  | Subscribe
  | Unsubscribe
  | Auth;

export const EVENT_TYPES = [
  'processing_started',
  'processing_progress',
  'processing_complete',
  'processing_failed',
  'validation_required',
  'system_status',
] as const;

export const CONTROL_TYPES = [
  'connected',
  'heartbeat',
  'replay_complete',
  'error',
  'backend_status',
  'pong',
  'subscribed',
  'unsubscribed',
  'authenticated',
  'preview',
] as const;

export const CLIENT_TYPES = [
  'ping',
  'cancel',
  'resume',
  'subscribe',
  'unsubscribe',
  'auth',
] as const;

export type EventType = ServerMessage['event_type'];
export type ClientType = ClientMessage['type'];
