import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '@zsa/client';
import { etaRemaining, formatEta, processingReducer, progressColor, validationReducer, type ProcessingStates } from '../src/processing';

const ev = (e: object) => ({ timestamp: 't', session_id: 's', job_id: 'j1', image_id: 'img1', ...e }) as unknown as ServerMessage;

describe('processingReducer', () => {
  it('follows a job from start to completion, counting the ETA down between events', () => {
    let s: ProcessingStates = new Map();
    s = processingReducer(s, ev({ event_type: 'processing_started', algorithm: 'segmentation_3d', estimated_time_seconds: 10, parameters: {} }), 1000);
    expect(s.get('img1')).toMatchObject({ phase: 'processing', algorithm: 'segmentation_3d', progress: 0, etaSeconds: 10 });
    s = processingReducer(s, ev({ event_type: 'processing_progress', progress: 40, current_step: 'Labeling', eta_seconds: 6 }), 5000);
    const st = s.get('img1')!;
    expect(st).toMatchObject({ progress: 40, currentStep: 'Labeling' });
    expect(etaRemaining(st, 7500)).toBe(3.5);
    expect(etaRemaining(st, 60000)).toBe(0);
    s = processingReducer(s, ev({ event_type: 'processing_complete', result_id: 'j1.r1', summary: { n: 3 }, processing_time_seconds: 9, confidence_score: 0.5 }), 9000);
    expect(s.get('img1')).toMatchObject({ phase: 'complete', progress: 100, resultId: 'j1.r1', confidence: 0.5 });
    s = validationReducer(s, ev({ event_type: 'validation_required', result_id: 'j1.r1', confidence: 0.5, reason: 'low', suggested_actions: ['look'] }));
    expect(s.get('img1')!.validation).toEqual({ reason: 'low', confidence: 0.5, suggestedActions: ['look'] });
  });

  it('tells failures from cancellations, starts over for a new job of the image, ignores the rest', () => {
    let s: ProcessingStates = new Map();
    s = processingReducer(s, ev({ event_type: 'processing_failed', error: 'x', error_code: 'CANCELLED', retry_available: true }));
    expect(s.get('img1')!.phase).toBe('cancelled');
    s = processingReducer(s, ev({ event_type: 'processing_failed', job_id: 'j2', error: 'no file', error_code: 'FILE_NOT_FOUND', retry_available: false }));
    expect(s.get('img1')).toMatchObject({ phase: 'failed', jobId: 'j2', errorCode: 'FILE_NOT_FOUND', retryAvailable: false });
    const same = processingReducer(s, { event_type: 'heartbeat', timestamp: 't', server_time: 't' } as ServerMessage);
    expect(same).toBe(s);
  });

  it('colours by progress and formats the ETA', () => {
    expect([0, 24, 25, 49, 50, 99, 100].map(progressColor)).toEqual(['orange', 'orange', 'yellow', 'yellow', 'blue', 'blue', 'green']);
    expect([formatEta(65), formatEta(6.2), formatEta(null)]).toEqual(['1:05', '0:07', '–']);
  });
});
