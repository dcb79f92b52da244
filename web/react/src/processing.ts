// The state of each image's analysis, built from the server's events (a pure reducer: the
// provider feeds it, the tests feed it directly).
import type { ServerMessage } from '@zsa/client';

export type ProcessingPhase = 'queued' | 'processing' | 'complete' | 'failed' | 'cancelled';

export interface ProcessingState {
  imageId: string;
  jobId: string;
  phase: ProcessingPhase;
  algorithm?: string;
  /** 0..100 */
  progress: number;
  currentStep?: string;
  /** seconds left as of etaAt (null: unknown) */
  etaSeconds: number | null;
  /** when etaSeconds was said (ms since the epoch): the countdown runs from it */
  etaAt: number;
  resultId?: string;
  confidence?: number;
  processingTimeSeconds?: number;
  summary?: Record<string, unknown>;
  error?: string;
  errorCode?: string;
  retryAvailable?: boolean;
  /** a result that needs a human look */
  validation?: { reason: string; confidence: number; suggestedActions: string[] };
  updatedAt: number;
}

export type ProcessingStates = ReadonlyMap<string, ProcessingState>;

const blank = (imageId: string, jobId: string, now: number): ProcessingState => ({
  imageId, jobId, phase: 'queued', progress: 0, etaSeconds: null, etaAt: now, updatedAt: now,
});

/** The states after one message (the same map when the message changes nothing). */
export function processingReducer(states: ProcessingStates, m: ServerMessage, now = Date.now()): ProcessingStates {
  if (!('job_id' in m) || !('image_id' in m)) return states;
  const key = m.image_id;
  const prev = states.get(key);
  const cur = prev && prev.jobId === m.job_id ? prev : blank(key, m.job_id, now);
  let next: ProcessingState;
  switch (m.event_type) {
    case 'processing_started':
      next = { ...cur, phase: 'processing', algorithm: m.algorithm, progress: 0, etaSeconds: m.estimated_time_seconds,
        etaAt: now, error: undefined, errorCode: undefined };
      break;
    case 'processing_progress':
      next = { ...cur, phase: 'processing', progress: m.progress, currentStep: m.current_step,
        etaSeconds: m.eta_seconds, etaAt: now };
      break;
    case 'processing_complete':
      next = { ...cur, phase: 'complete', progress: 100, etaSeconds: 0, etaAt: now, resultId: m.result_id,
        confidence: m.confidence_score, processingTimeSeconds: m.processing_time_seconds, summary: m.summary };
      break;
    case 'processing_failed':
      next = { ...cur, phase: m.error_code === 'CANCELLED' ? 'cancelled' : 'failed', error: m.error,
        errorCode: m.error_code, retryAvailable: m.retry_available, etaSeconds: null };
      break;
    default:
      return states;
  }
  next.updatedAt = now;
  const out = new Map(states);
  out.set(key, next);
  return out;
}

/** The validation request of a result (it comes after processing_complete, with the image's
 * result id). */
export function validationReducer(states: ProcessingStates, m: ServerMessage, now = Date.now()): ProcessingStates {
  if (m.event_type !== 'validation_required') return states;
  for (const [k, s] of states)
    if (s.jobId === m.job_id) {
      const out = new Map(states);
      out.set(k, { ...s, updatedAt: now,
        validation: { reason: m.reason, confidence: m.confidence, suggestedActions: m.suggested_actions } });
      return out;
    }
  return states;
}

export const isActive = (s: ProcessingState): boolean => s.phase === 'queued' || s.phase === 'processing';

/** Seconds left now, counting down from the last estimate (null when unknown). */
export function etaRemaining(s: ProcessingState, now = Date.now()): number | null {
  if (s.etaSeconds === null || s.phase !== 'processing') return s.phase === 'complete' ? 0 : s.etaSeconds;
  return Math.max(0, s.etaSeconds - (now - s.etaAt) / 1000);
}

/** The bar's colour by progress: orange, then yellow, blue, green (the document's scale). */
export function progressColor(progress: number): 'orange' | 'yellow' | 'blue' | 'green' {
  return progress < 25 ? 'orange' : progress < 50 ? 'yellow' : progress < 100 ? 'blue' : 'green';
}

/** "1:05", "0:07" */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !isFinite(seconds)) return '–';
  const s = Math.ceil(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
