// The gateway's REST API (docs/PROTOCOL.md, "REST") with the same types and the same token.
import type { Job } from './messages.gen';

/** An error answer: {"error": {code, message, field?}} and its HTTP status. */
export class ZsaApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** 429 RATE_LIMITED: when to try again */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ZsaApiError';
  }
}

export interface JobState {
  job_id: string;
  status: 'queued' | 'running' | 'complete' | 'failed' | 'cancelled' | 'dead';
  attempts?: number;
  progress?: number;
  current_step?: string;
  eta_seconds?: number;
  image_id?: string;
  algorithm?: string;
  session_id?: string;
  worker?: string;
  queued_at?: number;
  started_at?: number;
  finished_at?: number;
  result_id?: string;
  error?: string;
  error_code?: string;
  confidence_score?: number;
  processing_time_seconds?: number;
  validation_required?: boolean;
}

export interface Submitted {
  job_id: string;
  image_id: string;
  status: string;
  queue_position?: number;
  duplicate?: boolean;
}

export interface SessionJobs {
  session_id: string;
  jobs: JobState[];
  count: number;
  total: number;
  next_cursor: string | null;
}

/** One file of a result (GET /api/results/{id}/artifacts). */
export interface Artifact {
  name: string;
  type: string;
  size: number;
  url: string;
  /** the same file for a plain link (an <a href>, a browser's own download): no token needed,
   * a signed link valid --link-ttl-s (10 min) when the gateway requires tokens */
  download_url: string;
}

export interface Artifacts {
  result_id: string;
  artifacts: Artifact[];
  count: number;
}

export interface ZsaRestOptions {
  /** http(s)://host[:port] of the gateway (ws:// is accepted and turned into http://) */
  url: string;
  token?: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
}

export class ZsaRest {
  private readonly base: string;

  constructor(private readonly opts: ZsaRestOptions) {
    this.base = opts.url.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/ws$/, '').replace(/\/+$/, '');
  }

  submitJob(job: Omit<Job, 'job_id'> & { job_id?: string }): Promise<Submitted> {
    return this.call('POST', '/api/jobs', job);
  }

  getJob(jobId: string): Promise<JobState> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(jobId)}`);
  }

  cancelJob(jobId: string): Promise<{ job_id: string; status: string }> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(jobId)}/cancel`, {});
  }

  retryJob(jobId: string): Promise<{ job_id: string; status: string }> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(jobId)}/retry`, {});
  }

  getResult(id: string): Promise<Record<string, unknown>> {
    return this.call('GET', `/api/results/${encodeURIComponent(id)}`);
  }

  /** The files of a result: name, type, size and the URL to GET. */
  listArtifacts(resultId: string): Promise<Artifacts> {
    return this.call('GET', `/api/results/${encodeURIComponent(resultId)}/artifacts`);
  }

  /** An absolute URL for a path of this gateway (e.g. an artifact's download_url). */
  absolute(path: string): string {
    return `${this.base}${path}`;
  }

  /** The path of one artifact (to GET with the token, e.g. through fetchArtifact). */
  artifactPath(resultId: string, name: string): string {
    return `/api/results/${encodeURIComponent(resultId)}/artifacts/${encodeURIComponent(name)}`;
  }

  /** One artifact's bytes, or bytes [from, to] of it (inclusive, as HTTP ranges are). */
  async fetchArtifact(resultId: string, name: string, range?: [number, number]): Promise<Blob> {
    const res = await this.request('GET', this.artifactPath(resultId, name), undefined,
      range ? { range: `bytes=${range[0]}-${range[1]}` } : {});
    if (!res.ok) await this.fail(res, await res.text());
    return res.blob();
  }

  /** One page of a session's jobs, newest first; pass next_cursor for the next. */
  sessionJobs(sessionId: string, opts: { limit?: number; cursor?: string } = {}): Promise<SessionJobs> {
    const q = new URLSearchParams();
    if (opts.limit) q.set('limit', String(opts.limit));
    if (opts.cursor) q.set('cursor', opts.cursor);
    const qs = q.toString();
    return this.call('GET', `/api/sessions/${encodeURIComponent(sessionId)}/jobs${qs ? `?${qs}` : ''}`);
  }

  private async request(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    const t = this.opts.token;
    if (t !== undefined) headers.authorization = `Bearer ${typeof t === 'function' ? await t() : t}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const f = this.opts.fetch ?? fetch;
    return f(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  private fail(res: Response, text: string): never {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const e = (json as { error?: { code?: string; message?: string; field?: string; retry_after_ms?: number } })?.error;
    throw new ZsaApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? text, e?.field, e?.retry_after_ms);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.text();
    if (!res.ok) this.fail(res, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined as T;
    }
  }
}
