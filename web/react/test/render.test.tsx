import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import { ProcessingStatus } from '../src/ProcessingStatus';
import { ToastContainer } from '../src/Toasts';
import { makeToast } from '../src/toast';

describe('components', () => {
  it('ProcessingStatus shows the document\'s figures, accessibly', () => {
    const html = renderToStaticMarkup(
      <ProcessingStatus imageId="abc123" progress={75.5} currentStep="Computing object metrics" etaSeconds={2.3}
        algorithm="segmentation_3d" gpuUtilization={78.5} onCancel={() => {}} />,
    );
    expect(html).toContain('role="progressbar"');
    expect(html).toContain('aria-valuenow="76"');
    expect(html).toContain('zsa-bar-blue zsa-bar-running');
    expect(html).toContain('width:75.5%');
    expect(html).toContain('Computing object metrics');
    expect(html).toContain('ETA 0:03');
    expect(html).toContain('GPU 79 %');
    expect(html).toContain('>Cancel</button>');
  });

  it('the toast stack is a live region with actions, dismiss buttons and timers', () => {
    const html = renderToStaticMarkup(
      <ToastContainer onDismiss={() => {}} toasts={[
        makeToast('success', 'Analysis Complete', 'Processing finished in 4.8s', { action: { label: 'View Results', onClick: () => {} } }),
        makeToast('error', 'Analysis Failed', 'boom'),
      ]} />,
    );
    expect(html).toContain('aria-live="polite"');
    expect(html).toContain('role="status"');
    expect(html).toContain('role="alert"');
    expect(html).toContain('>View Results</button>');
    expect(html).toContain('aria-label="Dismiss: Analysis Failed"');
    expect(html.match(/zsa-toast-timer/g)).toHaveLength(1); // errors stay: no timer
  });
});
