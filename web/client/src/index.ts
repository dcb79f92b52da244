// @zsa/client: the framework-free client of the zsa gateway.
export { backoffDelay, type BackoffOptions } from './backoff';
export {
  ZsaClient,
  ZsaConnectionError,
  type ConnectionStatus,
  type TokenSource,
  type WebSocketCtor,
  type WebSocketLike,
  type ZsaClientOptions,
} from './client';
export * from './messages.gen';
export { SendQueue } from './queue';
export { ZsaApiError, ZsaRest, type Artifact, type Artifacts, type JobState, type SessionJobs, type Submitted, type ZsaRestOptions } from './rest';
