// The dashboard's jobs (one row per job of the session): from live events and from the
// session's history over REST (GET /api/sessions/S/jobs).
import type { JobState, ServerMessage } from '@zsa/client';

export type JobStatus = 'queued' | 'running' | 'complete' | 'failed' | 'cancelled' | 'dead';

export interface JobRow {
  jobId: string;
  imageId: string;
  algorithm: string;
  status: JobStatus;
  progress: number;
  step: string;
  etaSeconds: number | null;
  etaAt: number;
  result: string;
  resultId?: string;
  retryAvailable: boolean;
  review?: { confidence: number; reason: string; actions: string[] };
  /** live events updated it: a history answer is older */
  live: boolean;
  order: number;
}

export type Jobs = ReadonlyMap<string, JobRow>;

let order = 0;

function row(jobs: Jobs, id: string, imageId = ''): JobRow {
  return jobs.get(id) ?? { jobId: id, imageId, algorithm: '', status: 'queued', progress: 0, step: '',
    etaSeconds: null, etaAt: 0, result: '', retryAvailable: false, live: false, order: order++ };
}

function put(jobs: Jobs, r: JobRow): Jobs {
  const out = new Map(jobs);
  out.set(r.jobId, r);
  return out;
}

export function applyEvent(jobs: Jobs, m: ServerMessage, now = Date.now()): Jobs {
  if (!('job_id' in m)) return jobs;
  const r = { ...row(jobs, m.job_id, 'image_id' in m ? m.image_id : ''), live: true };
  switch (m.event_type) {
    case 'processing_started':
      return put(jobs, { ...r, algorithm: m.algorithm, status: 'running', step: 'started',
        etaSeconds: m.estimated_time_seconds, etaAt: now });
    case 'processing_progress':
      return put(jobs, { ...r, status: 'running', progress: m.progress, step: m.current_step,
        etaSeconds: m.eta_seconds, etaAt: now });
    case 'processing_complete': {
      const n = (m.summary as { object_count?: number }).object_count;
      return put(jobs, { ...r, status: 'complete', progress: 100, step: '', resultId: m.result_id,
        result: `${n !== undefined ? `${n} objects · ` : ''}confidence ${m.confidence_score.toFixed(2)} · ${m.processing_time_seconds.toFixed(1)} s` });
    }
    case 'processing_failed':
      return put(jobs, { ...r, status: m.error_code === 'CANCELLED' ? 'cancelled' : 'failed',
        result: `${m.error_code}: ${m.error}`, retryAvailable: m.retry_available });
    case 'validation_required':
      return put(jobs, { ...r, review: { confidence: m.confidence, reason: m.reason, actions: m.suggested_actions } });
    default:
      return jobs;
  }
}

/** A job as REST shows it; force: even over a row that live events updated. */
export function applyRest(jobs: Jobs, j: JobState, force: boolean): Jobs {
  const known = jobs.get(j.job_id);
  if (known && known.live && !force) // its live events are newer; only what they do not carry
    return known.algorithm || !j.algorithm ? jobs : put(jobs, { ...known, algorithm: j.algorithm });
  const r = row(jobs, j.job_id, j.image_id);
  let result = '';
  if (j.status === 'complete' && j.confidence_score !== undefined)
    result = `confidence ${j.confidence_score.toFixed(2)}` +
      (j.processing_time_seconds !== undefined ? ` · ${j.processing_time_seconds.toFixed(1)} s` : '');
  else if (j.error_code) result = `${j.error_code}: ${j.error ?? ''}`;
  return put(jobs, { ...r, algorithm: r.algorithm || j.algorithm || '', status: j.status,
    progress: j.status === 'complete' ? 100 : j.progress ?? 0, step: j.current_step ?? '',
    etaSeconds: j.eta_seconds ?? null, etaAt: Date.now(), result,
    retryAvailable: j.status === 'failed' || j.status === 'cancelled' || j.status === 'dead',
    review: j.validation_required ? r.review ?? { confidence: j.confidence_score ?? 0, reason: '', actions: [] } : r.review });
}

/** A job this page submitted: queued until its events come. */
export function applySubmitted(jobs: Jobs, jobId: string, algorithm: string): Jobs {
  const r = row(jobs, jobId);
  return put(jobs, { ...r, algorithm, status: r.live ? r.status : 'queued' });
}
