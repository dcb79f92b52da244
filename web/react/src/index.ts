// @zsa/react: the product document's hooks and components, on @zsa/client.
export {
  ToastProvider,
  WebSocketProvider,
  useAllProcessingStates,
  useHasActiveProcessing,
  useOptionalWebSocketContext,
  useProcessingState,
  useToast,
  useWebSocketContext,
  type ToastApi,
  type WebSocketProviderProps,
} from './context';
export { ProcessingStatus, type ProcessingStatusProps } from './ProcessingStatus';
export { ResultView, formatBytes, parseCsv, sortRows, type ResultViewProps, type SortDir, type Table } from './ResultView';
export {
  etaRemaining,
  formatEta,
  isActive,
  processingReducer,
  progressColor,
  validationReducer,
  type ProcessingPhase,
  type ProcessingState,
  type ProcessingStates,
} from './processing';
export { ZsaStyles, zsaCss } from './styles';
export { MAX_TOASTS, makeToast, toastReducer, type Toast, type ToastAction, type ToastKind, type ToastOptions } from './toast';
export { ToastContainer, type ToastContainerProps } from './Toasts';
export { useWebSocket, type EventHandlers, type UseWebSocket, type UseWebSocketOptions } from './useWebSocket';
