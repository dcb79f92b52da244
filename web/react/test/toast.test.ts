import { describe, expect, it } from 'vitest';
import { MAX_TOASTS, makeToast, toastReducer, type Toast } from '../src/toast';

describe('toasts', () => {
  it('stack at most five, the oldest going first', () => {
    let t: readonly Toast[] = [];
    for (let i = 0; i < 7; i++) t = toastReducer(t, { type: 'add', toast: makeToast('info', `n${i}`) });
    expect(t).toHaveLength(MAX_TOASTS);
    expect(t.map((x) => x.title)).toEqual(['n2', 'n3', 'n4', 'n5', 'n6']);
    t = toastReducer(t, { type: 'dismiss', id: t[0].id });
    expect(t.map((x) => x.title)).toEqual(['n3', 'n4', 'n5', 'n6']);
  });

  it('go by themselves after their duration; errors stay unless told otherwise', () => {
    const ok = makeToast('success', 'done', 'm', {}, 0);
    const err = makeToast('error', 'failed', 'm', {}, 0);
    const quick = makeToast('warning', 'w', undefined, { duration: 1000 }, 0);
    let t: readonly Toast[] = [ok, err, quick];
    t = toastReducer(t, { type: 'expire', now: 999 });
    expect(t).toHaveLength(3);
    t = toastReducer(t, { type: 'expire', now: 1000 });
    expect(t.map((x) => x.title)).toEqual(['done', 'failed']);
    t = toastReducer(t, { type: 'expire', now: 60000 });
    expect(t.map((x) => x.title)).toEqual(['failed']);
    expect(toastReducer(t, { type: 'expire', now: 70000 })).toBe(t);
  });
});
