import { describe, expect, it } from 'vitest';
import { act, create, type ReactTestRenderer } from 'react-test-renderer';
import type { ZsaRest } from '@zsa/client';
import { ResultView, formatValue, parseCsv, sortRows } from '../src/ResultView';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const CSV = 'label,voxels,volume,touches_border\n1,30,7.5,0\n2,4,1,1\n3,120,30,0\n';

// A REST client that answers from memory, recording what was fetched.
function fakeRest(fetched: string[]) {
  return {
    getResult: async () => ({ result_id: 'j1.r1', algorithm: 'segmentation_3d', image_id: 'img1', confidence_score: 0.91,
      processing_time_seconds: 1.25, summary: { object_count: 3, threshold: 412.5, artifacts: [], preview: { width: 4 } } }),
    listArtifacts: async () => ({ result_id: 'j1.r1', count: 3, artifacts: [
      { name: 'objects.csv', type: 'text/csv', size: CSV.length, url: '/api/results/j1.r1/artifacts/objects.csv',
        download_url: '/api/results/j1.r1/artifacts/objects.csv?link=l1.1.k.x' },
      { name: 'labels.tif', type: 'image/tiff', size: 2048, url: '/api/results/j1.r1/artifacts/labels.tif',
        download_url: '/api/results/j1.r1/artifacts/labels.tif?link=l1.1.k.x' },
      { name: 'preview.png', type: 'image/png', size: 70, url: '/api/results/j1.r1/artifacts/preview.png',
        download_url: '/api/results/j1.r1/artifacts/preview.png?link=l1.1.k.x' }] }),
    fetchArtifact: async (_id: string, name: string) => {
      fetched.push(name);
      return new Blob([name === 'objects.csv' ? CSV : 'PNG'], { type: name.endsWith('.csv') ? 'text/csv' : 'image/png' });
    },
  } as unknown as ZsaRest;
}

const settle = () => act(async () => { for (let i = 0; i < 10; i++) await new Promise((ok) => setTimeout(ok, 0)); });
const column = (r: ReactTestRenderer, k: number) =>
  r.root.findAllByType('tbody')[0].findAllByType('tr').map((tr) => tr.findAllByType('td')[k].children.join(''));

describe('ResultView', () => {
  it('parses and sorts the object table by number or text, stably', () => {
    const t = parseCsv(CSV);
    expect(t.head).toEqual(['label', 'voxels', 'volume', 'touches_border']);
    expect(t.rows[1]).toEqual([2, 4, 1, 1]);
    expect(sortRows(t.rows, 1, 'ascending').map((r) => r[0])).toEqual([2, 1, 3]);
    expect(sortRows(t.rows, 1, 'descending').map((r) => r[0])).toEqual([3, 1, 2]);
    expect(sortRows([['b', 1], ['a', 2], ['b', 0]], 0, 'ascending').map((r) => r[1])).toEqual([2, 1, 0]);
    expect(parseCsv(CSV, 2).rows).toHaveLength(2);
  });

  it('formats summary values for people', () => {
    expect(formatValue(0.3710617436377448)).toBe('0.3711');
    expect(formatValue(0.037)).toBe('0.037');
    expect(formatValue(155.7625)).toBe('155.8');
    expect(formatValue(123456.7)).toBe('123457');
    expect(formatValue(20)).toBe('20');
    expect(formatValue({ nx: 96, voxel_size: '0.5 x 0.5 x 1 micron', mean: 623.25 })).toBe('nx 96 · voxel_size 0.5 x 0.5 x 1 micron · mean 623.3');
    expect(formatValue([1, 2.25, 'a'])).toBe('1, 2.25, a');
    expect(formatValue(null)).toBe('—');
  });

  it('shows the preview, the summary, a sortable object table and the downloads', async () => {
    const fetched: string[] = [];
    let r!: ReactTestRenderer;
    act(() => { r = create(<ResultView resultId="j1.r1" rest={fakeRest(fetched)} />); });
    await settle();
    const img = r.root.findByType('img');
    expect(img.props.src).toMatch(/^blob:/);
    expect(img.props.alt).toBe('preview of result j1.r1');
    const dts = r.root.findAllByType('dt').map((d) => d.children.join(''));
    expect(dts).toContain('object_count');
    expect(dts).not.toContain('artifacts');
    expect(fetched.sort()).toEqual(['objects.csv', 'preview.png']); // the TIFF only on demand
    expect(r.root.findAllByProps({ className: 'zsa-download' }).map((b) => b.props['data-name']))
      .toEqual(['objects.csv', 'labels.tif', 'preview.png']);
    expect(column(r, 0)).toEqual(['1', '2', '3']);
    const th = () => r.root.findAllByType('th')[1];
    act(() => th().findByType('button').props.onClick());
    expect(th().props['aria-sort']).toBe('ascending');
    expect(column(r, 0)).toEqual(['2', '1', '3']);
    act(() => th().findByType('button').props.onClick());
    expect(th().props['aria-sort']).toBe('descending');
    expect(column(r, 0)).toEqual(['3', '1', '2']);
  });

  it('says what failed', async () => {
    const rest = { getResult: async () => { throw new Error('UNKNOWN_RESULT: no such result'); },
      listArtifacts: async () => ({ artifacts: [] }) } as unknown as ZsaRest;
    let r!: ReactTestRenderer;
    act(() => { r = create(<ResultView resultId="nope.r1" rest={rest} />); });
    await settle();
    expect(r.root.findByProps({ role: 'alert' }).children.join('')).toContain('no such result');
  });
});
