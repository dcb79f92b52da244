import { createRoot } from 'react-dom/client';
import { ProcessingStatus, WebSocketProvider, ZsaStyles, useAllProcessingStates, useWebSocketContext } from '@zsa/react';

function AnalysisDashboard() {
  const { isConnected, systemStatus } = useWebSocketContext();
  const states = useAllProcessingStates();
  return (
    <main>
      <p id="conn">{isConnected ? 'live' : 'connecting'} · queue {systemStatus?.queue_length ?? '–'}</p>
      {states.map((s) => <ProcessingStatus key={s.imageId} imageId={s.imageId} />)}
    </main>
  );
}

const p = new URLSearchParams(location.hash.slice(1)); // #gateway=ws://host:port/ws&session=S&token=T
createRoot(document.getElementById('root')!).render(
  <WebSocketProvider wsUrl={p.get('gateway')!} sessionId={p.get('session')!} token={p.get('token')!}>
    <ZsaStyles />
    <AnalysisDashboard />
  </WebSocketProvider>,
);
