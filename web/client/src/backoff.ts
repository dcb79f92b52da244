// Reconnect delays: the product document's 1 → 2 → 4 → 8 → 16 → 30 s (capped), each with
// jitter so that clients dropped together do not come back together.

export interface BackoffOptions {
  /** first delay, ms (default 1000) */
  initialMs?: number;
  /** cap, ms (default 30000) */
  maxMs?: number;
  /** +/- this fraction of the delay at random (default 0.2) */
  jitter?: number;
}

/** The delay before reconnect attempt `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 1000;
  const max = opts.maxMs ?? 30000;
  const jitter = opts.jitter ?? 0.2;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}
