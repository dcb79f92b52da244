/* THE schema: every message zsa sends or receives is declared here once. The C structs, the
 * JSON and MessagePack codecs, validation and the reference table in docs/PROTOCOL.md are all
 * derived from these rows (see proto.h); adding a row is all it takes to add a field.
 *
 * Message row: X(ID, name, family, envelope, doc)
 *   family:   EVENT (worker/scheduler -> Redis -> gateway -> client, keyed by "event_type"),
 *             CONTROL (gateway -> client, "event_type", never stored), CLIENT (client -> gateway,
 *             keyed by "type"), JOB (a job as submitted; no discriminator key).
 *   envelope: which common fields come first (PR_ENV_JOB_EVENT, PR_ENV_EVENT, PR_ENV_CONTROL,
 *             PR_ENV_NONE); they are declared once in PR_ENVELOPE_FIELDS below.
 * Field row:   F(msg, name, type, presence, lo, hi, doc)
 *   type:     ID (1..128 of [A-Za-z0-9_.:-], not starting with a dot), TEXT (UTF-8, no NUL, at most
 * hi bytes), CODE (1..64 of [A-Z0-9_]), TIME (RFC 3339), STREAMID ("<ms>-<seq>"), NUM (finite
 * double in [lo, hi]), INT (integer in [lo, hi]), BOOL, OBJECT (free-form JSON object, kept
 *             exactly), STRS (array of at most lo strings of at most hi bytes), BIN (at most hi
 *             bytes: MessagePack bin; a JSON encoding leaves the field out, so it is OPT).
 *   presence: REQ (must be present), OPT (may be absent), NULLABLE (NUM only: always sent, null
 *             when unknown). INT and BOOL fields are always REQ.
 */
#ifndef PR_SCHEMA_H
#define PR_SCHEMA_H

#define PR_MESSAGES(X)                                                                             \
    X(PROCESSING_STARTED, processing_started, EVENT, PR_ENV_JOB_EVENT,                             \
      "A worker took the job and started the analysis.")                                           \
    X(PROCESSING_PROGRESS, processing_progress, EVENT, PR_ENV_JOB_EVENT,                           \
      "Progress of a running job: at most 10 per second per job; every step change and 100 % "     \
      "are always sent.")                                                                          \
    X(PROCESSING_COMPLETE, processing_complete, EVENT, PR_ENV_JOB_EVENT,                           \
      "The job finished; the full result is at GET /api/results/{result_id}.")                     \
    X(PROCESSING_FAILED, processing_failed, EVENT, PR_ENV_JOB_EVENT,                               \
      "The job ended without a result.")                                                           \
    X(VALIDATION_REQUIRED, validation_required, EVENT, PR_ENV_JOB_EVENT,                           \
      "A result needs a human look (confidence below the threshold).")                             \
    X(SYSTEM_STATUS, system_status, EVENT, PR_ENV_EVENT,                                           \
      "Cluster figures, broadcast every 5 s by the scheduler leader.")                             \
    X(CONNECTED, connected, CONTROL, PR_ENV_CONTROL,                                               \
      "First message on every WebSocket connection (only backend_status can come before it, "      \
      "while the gateway has lost Redis).")                                                        \
    X(HEARTBEAT, heartbeat, CONTROL, PR_ENV_CONTROL,                                               \
      "Every heartbeat_interval_seconds; a client that hears nothing for 45 s reconnects.")        \
    X(REPLAY_COMPLETE, replay_complete, CONTROL, PR_ENV_CONTROL,                                   \
      "End of the replay of missed events; truncated: re-sync from REST.")                         \
    X(ERROR, error, CONTROL, PR_ENV_CONTROL, "A client message was refused.")                      \
    X(BACKEND_STATUS, backend_status, CONTROL, PR_ENV_CONTROL,                                     \
      "The gateway lost Redis (no live events; cancels fail; REST answers 503) or has it back "    \
      "(events of the outage follow). Sent to every client when it changes, and on connect "       \
      "while it is lost (then before connected).")                                                 \
    X(PONG, pong, CONTROL, PR_ENV_CONTROL, "Answer to a ping.")                                    \
    X(SUBSCRIBED, subscribed, CONTROL, PR_ENV_CONTROL,                                             \
      "A subscribe was accepted: the session's events follow (after its replay).")                 \
    X(UNSUBSCRIBED, unsubscribed, CONTROL, PR_ENV_CONTROL,                                         \
      "An unsubscribe was done: no more events of the session.")                                   \
    X(AUTHENTICATED, authenticated, CONTROL, PR_ENV_CONTROL,                                       \
      "An auth message was accepted (connected follows the first one).")                           \
    X(PREVIEW, preview, CONTROL, PR_ENV_CONTROL,                                                   \
      "A completed job's preview image, after its processing_complete, to a connection opened "    \
      "with ?previews=1 (never for broadcasts or replayed events). MessagePack clients get the "   \
      "PNG in data (a binary frame) when it is at most the gateway's --max-preview-kb; JSON "      \
      "clients, and larger previews, get only its url.")                                           \
    X(PING, ping, CLIENT, PR_ENV_NONE, "Client liveness check; answered with pong.")               \
    X(CANCEL, cancel, CLIENT, PR_ENV_NONE, "Cancel a queued or running job.")                      \
    X(RESUME, resume, CLIENT, PR_ENV_NONE, "Replay the events after last_event_id.")               \
    X(SUBSCRIBE, subscribe, CLIENT, PR_ENV_NONE,                                                   \
      "Follow one more session on this connection (at most 16), replaying after last_event_id.")   \
    X(UNSUBSCRIBE, unsubscribe, CLIENT, PR_ENV_NONE, "Stop following a session subscribed to.")    \
    X(AUTH, auth, CLIENT, PR_ENV_NONE,                                                             \
      "The access token: first message when the URL carried none, or a fresh one before expiry.")  \
    X(JOB, job, JOB, PR_ENV_NONE, "A job as submitted (LPUSH on <prefix>:jobs or POST /api/jobs).")

/* Common fields, in wire order. Row: E(name, type, in job events, in other events, in control
 * messages, doc); NO means the field does not exist there. */
#define PR_ENVELOPE_FIELDS(E)                                                                      \
    E(event_id, STREAMID, OPT, OPT, NO,                                                            \
      "Redis stream entry id; absent until the event is stored, and on control messages")          \
    E(timestamp, TIME, REQ, REQ, OPT, "when it was emitted, RFC 3339 UTC with milliseconds")       \
    E(session_id, ID, OPT, OPT, NO, "the session the event belongs to; absent on broadcasts")      \
    E(job_id, ID, REQ, NO, NO, "the job the event is about")

#define PR_FIELDS_processing_started(F)                                                            \
    F(processing_started, image_id, ID, REQ, 0, 0, "the image being analysed")                     \
    F(processing_started, algorithm, ID, REQ, 0, 0, "algorithm name, e.g. segmentation_3d")        \
    F(processing_started, estimated_time_seconds, NUM, REQ, 0, 1e7,                                \
      "expected duration from the algorithm's measured throughput")                                \
    F(processing_started, parameters, OBJECT, REQ, 0, 0, "the job's parameters, as submitted")

#define PR_FIELDS_processing_progress(F)                                                           \
    F(processing_progress, image_id, ID, REQ, 0, 0, "the image being analysed")                    \
    F(processing_progress, progress, NUM, REQ, 0, 100, "percent done")                             \
    F(processing_progress, current_step, TEXT, REQ, 0, 256, "human-readable step name")            \
    F(processing_progress, eta_seconds, NUM, NULLABLE, 0, 1e7,                                     \
      "estimated seconds left; null when unknown")

#define PR_FIELDS_processing_complete(F)                                                           \
    F(processing_complete, image_id, ID, REQ, 0, 0, "the image analysed")                          \
    F(processing_complete, result_id, ID, REQ, 0, 0, "key of the full result")                     \
    F(processing_complete, summary, OBJECT, REQ, 0, 0, "algorithm-specific summary")               \
    F(processing_complete, processing_time_seconds, NUM, REQ, 0, 1e7, "wall time of the job")      \
    F(processing_complete, confidence_score, NUM, REQ, 0, 1, "quality estimate, 0..1")

#define PR_FIELDS_processing_failed(F)                                                             \
    F(processing_failed, image_id, ID, REQ, 0, 0, "the image")                                     \
    F(processing_failed, error, TEXT, REQ, 0, 4096, "what went wrong, for humans")                 \
    F(processing_failed, error_code, CODE, REQ, 0, 0,                                              \
      "CUDA_OUT_OF_MEMORY, FILE_NOT_FOUND, INVALID_IMAGE, CANCELLED, TIMEOUT, WORKER_LOST, ...")   \
    F(processing_failed, retry_available, BOOL, REQ, 0, 0, "whether POST .../retry may work")

#define PR_FIELDS_validation_required(F)                                                           \
    F(validation_required, result_id, ID, REQ, 0, 0, "the result to review")                       \
    F(validation_required, confidence, NUM, REQ, 0, 1, "the result's confidence score")            \
    F(validation_required, reason, TEXT, REQ, 0, 1024, "why a human should look")                  \
    F(validation_required, suggested_actions, STRS, REQ, 32, 256, "what to check")

#define PR_FIELDS_system_status(F)                                                                 \
    F(system_status, gpu_utilization, NUM, REQ, 0, 100, "mean over GPU workers, percent")          \
    F(system_status, gpu_memory_used_mb, INT, REQ, 0, 1e12, "sum over GPU workers")                \
    F(system_status, gpu_memory_total_mb, INT, REQ, 0, 1e12, "sum over GPU workers")               \
    F(system_status, queue_length, INT, REQ, 0, 1e12, "jobs waiting")                              \
    F(system_status, active_processing_count, INT, REQ, 0, 1e12, "jobs held by live workers")      \
    F(system_status, workers_online, INT, REQ, 0, 1e12, "workers with a live heartbeat")

#define PR_FIELDS_connected(F)                                                                     \
    F(connected, client_id, ID, REQ, 0, 0, "this connection's id")                                 \
    F(connected, session_id, ID, REQ, 0, 0, "the session (generated when the URL had none)")       \
    F(connected, heartbeat_interval_seconds, INT, REQ, 1, 3600, "seconds between heartbeats")      \
    F(connected, resumed, BOOL, REQ, 0, 0, "true when a replay follows")                           \
    F(connected, token_expires_at, TIME, OPT, 0, 0,                                                \
      "when the access token expires (absent when auth is off): send a fresh one before")

#define PR_FIELDS_heartbeat(F) F(heartbeat, server_time, TIME, REQ, 0, 0, "the gateway's clock")

#define PR_FIELDS_replay_complete(F)                                                               \
    F(replay_complete, count, INT, REQ, 0, 1e9, "events replayed")                                 \
    F(replay_complete, truncated, BOOL, REQ, 0, 0,                                                 \
      "true when events were missed for good: re-sync from REST")                                  \
    F(replay_complete, streams, STRS, REQ, 4, 32,                                                  \
      "the streams replayed: [\"session\"]; broadcast events (system_status, jobs without a "      \
      "session) are never replayed: re-read such jobs over REST")                                  \
    F(replay_complete, session_id, ID, OPT, 0, 0, "the session replayed")

#define PR_FIELDS_error(F)                                                                         \
    F(error, code, CODE, REQ, 0, 0, "INVALID_MESSAGE, UNKNOWN_JOB, RATE_LIMITED, ...")             \
    F(error, message, TEXT, REQ, 0, 1024, "names the field and the reason")                        \
    F(error, retry_after_ms, NUM, OPT, 0, 86400000,                                                \
      "RATE_LIMITED: the gateway reads this client's messages again after this long")

#define PR_FIELDS_backend_status(F)                                                                \
    F(backend_status, available, BOOL, REQ, 0, 0, "true when the gateway reaches Redis again")     \
    F(backend_status, message, TEXT, REQ, 0, 256, "what happened, for humans")

#define PR_FIELDS_subscribed(F)                                                                    \
    F(subscribed, session_id, ID, REQ, 0, 0, "the session now followed")                           \
    F(subscribed, resumed, BOOL, REQ, 0, 0, "true when a replay follows")
#define PR_FIELDS_unsubscribed(F)                                                                  \
    F(unsubscribed, session_id, ID, REQ, 0, 0, "the session no longer followed")

#define PR_FIELDS_authenticated(F)                                                                 \
    F(authenticated, subject, TEXT, REQ, 0, 128, "who the token is for (its sub)")                 \
    F(authenticated, scopes, STRS, REQ, 4, 32, "what it may do: read, submit, control, admin")     \
    F(authenticated, token_expires_at, TIME, REQ, 0, 0, "when it expires")

#define PR_FIELDS_preview(F)                                                                       \
    F(preview, session_id, ID, OPT, 0, 0, "the job's session")                                     \
    F(preview, job_id, ID, REQ, 0, 0, "the job")                                                   \
    F(preview, result_id, ID, REQ, 0, 0, "its result")                                             \
    F(preview, content_type, TEXT, REQ, 0, 64, "image/png")                                        \
    F(preview, width, INT, REQ, 0, 65536, "pixels")                                                \
    F(preview, height, INT, REQ, 0, 65536, "pixels")                                               \
    F(preview, url, TEXT, REQ, 0, 512, "GET it over REST: /api/results/{result_id}/artifacts/...") \
    F(preview, data, BIN, OPT, 0, 67108864, "the PNG (MessagePack only)")

#define PR_FIELDS_pong(F)
#define PR_FIELDS_ping(F)
#define PR_FIELDS_cancel(F) F(cancel, job_id, ID, REQ, 0, 0, "the job to cancel")
#define PR_FIELDS_subscribe(F)                                                                     \
    F(subscribe, session_id, ID, REQ, 0, 0, "the session to follow too")                           \
    F(subscribe, last_event_id, STREAMID, OPT, 0, 0, "replay its events after this one")
#define PR_FIELDS_unsubscribe(F)                                                                   \
    F(unsubscribe, session_id, ID, REQ, 0, 0, "a session subscribed to on this connection")
#define PR_FIELDS_auth(F)                                                                          \
    F(auth, token, TEXT, REQ, 0, 4096, "v1.<payload>.<mac> (see Access tokens)")
#define PR_FIELDS_resume(F)                                                                        \
    F(resume, last_event_id, STREAMID, REQ, 0, 0, "the last event the client has")

#define PR_FIELDS_job(F)                                                                           \
    F(job, job_id, ID, OPT, 0, 0, "assigned when absent")                                          \
    F(job, image_id, ID, REQ, 0, 0, "the image's id")                                              \
    F(job, file_path, TEXT, OPT, 0, 4096, "the multi-page TIFF (algorithms that read one)")        \
    F(job, algorithm, ID, REQ, 0, 0, "simulate, segmentation_3d, max_projection, ...")             \
    F(job, parameters, OBJECT, OPT, 0, 0, "algorithm parameters")                                  \
    F(job, session_id, ID, OPT, 0, 0, "where events go; absent: the broadcast stream")

#endif
