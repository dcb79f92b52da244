/* Messages of zsa: C structs, codecs and validation derived from proto/schema.h.
 * Decoders validate everything they accept; encoders validate what they are given, so nothing
 * invalid enters or leaves a daemon. Any thread; a struct pr_msg belongs to one thread. */
#ifndef PR_PROTO_H
#define PR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/schema.h"
#include "proto/value.h"

#define PR_MAX_MESSAGE_BYTES (1024 * 1024) /* larger inputs are refused before parsing */
#define PR_MAX_DEPTH 32                    /* nesting of objects and arrays, message included */
#define PR_MAX_VALUE_STRING (64 * 1024)    /* strings inside free-form objects */
#define PR_ID_MAX 128
#define PR_CODE_MAX 64

enum pr_type {
#define PR__TYPE_ENUM(id, name, fam, env, doc) PR_##id,
    PR_MESSAGES(PR__TYPE_ENUM)
#undef PR__TYPE_ENUM
        PR__TYPE_COUNT
};

enum pr_family { PR_FAM_EVENT, PR_FAM_CONTROL, PR_FAM_CLIENT, PR_FAM_JOB };

/* What a decoder expects: server messages keyed by "event_type" (events and control), client
 * messages keyed by "type", or a job spec. */
enum pr_wire { PR_WIRE_SERVER, PR_WIRE_CLIENT, PR_WIRE_JOB };

enum pr_ftype {
    PR_T_ID,
    PR_T_TEXT,
    PR_T_CODE,
    PR_T_TIME,
    PR_T_STREAMID,
    PR_T_NUM,
    PR_T_INT,
    PR_T_BOOL,
    PR_T_OBJECT,
    PR_T_STRS,
    PR_T_BIN
};

enum pr_presence { PR_P_NO, PR_P_REQ, PR_P_OPT, PR_P_NULLABLE };

/* A list of strings (suggested_actions). */
struct pr_strs {
    char **v; /* owned array of owned strings */
    size_t n;
};

/* Bytes (a preview image): MessagePack bin; never in JSON. */
struct pr_bin {
    unsigned char *p; /* owned; NULL when absent */
    size_t n;
};

/* C type of each field type. Strings and objects: NULL when absent. NUM: NaN when null/absent. */
#define PR__CTYPE_ID char *
#define PR__CTYPE_TEXT char *
#define PR__CTYPE_CODE char *
#define PR__CTYPE_TIME char *
#define PR__CTYPE_STREAMID char *
#define PR__CTYPE_NUM double
#define PR__CTYPE_INT int64_t
#define PR__CTYPE_BOOL bool
#define PR__CTYPE_OBJECT struct pr_value *
#define PR__CTYPE_STRS struct pr_strs
#define PR__CTYPE_BIN struct pr_bin

/* struct pr_processing_started { ... } and so on, one per message. */
#define PR__FIELD_DECL(msg, name, type, pres, lo, hi, doc) PR__CTYPE_##type name;
#define PR__STRUCT_DECL(id, name, fam, env, doc)                                                   \
    struct pr_##name {                                                                             \
        char pr__none; /* keeps field-less messages valid C */                                     \
        PR_FIELDS_##name(PR__FIELD_DECL)                                                           \
    };
PR_MESSAGES(PR__STRUCT_DECL)
#undef PR__STRUCT_DECL
#undef PR__FIELD_DECL

struct pr_msg {
    enum pr_type type;
    /* envelope (see PR_ENVELOPE_FIELDS); owned; NULL when absent */
    char *event_id;
    char *timestamp;
    char *session_id;
    char *job_id;
    union {
#define PR__UNION_MEMBER(id, name, fam, env, doc) struct pr_##name name;
        PR_MESSAGES(PR__UNION_MEMBER)
#undef PR__UNION_MEMBER
    } u;
};

struct pr_field {
    const char *name;
    enum pr_ftype type;
    enum pr_presence presence;
    double lo, hi; /* NUM/INT range; TEXT: hi = max bytes; STRS: lo = max items, hi = max bytes */
    size_t offset; /* from the start of struct pr_msg */
    const char *doc;
};

struct pr_msgdesc {
    enum pr_type type;
    const char *name; /* the event_type / type value */
    enum pr_family family;
    const struct pr_field *fields; /* envelope fields first, in wire order */
    size_t nfields;
    const char *doc;
};

/* A decode or validation failure: the field (or "message") and the reason. */
struct pr_err {
    char field[64];
    char text[256]; /* "progress: must be at most 100, got 101" */
};

/* Descriptors. pr_msgdesc(t) is never NULL for a valid t; by_name returns NULL when unknown. */
const struct pr_msgdesc *pr_msgdesc(enum pr_type t);
const struct pr_msgdesc *pr_msgdesc_by_name(enum pr_wire wire, const char *name, size_t len);
const char *pr_family_name(enum pr_family f);
const char *pr_ftype_name(enum pr_ftype t);

/* Starts an empty message of type t (NUM fields NaN, the rest zero/NULL). */
void pr_msg_init(struct pr_msg *m, enum pr_type t);
/* Frees everything the message owns; it may be reused after pr_msg_init. */
void pr_msg_deinit(struct pr_msg *m);
/* Stores a copy of s in the string field at *slot (freeing the old one). For building messages. */
void pr_set_str(char **slot, const char *s);

/* Checks presence, types, ranges, lengths, formats. Returns 0 or -EINVAL with err filled. */
int pr_validate(const struct pr_msg *m, struct pr_err *err);

/* Decoders: parse buf[0..len), check the discriminator against wire, validate. On success m is
 * initialised and owns its data; on failure m is left empty (deinit is still safe) and err says
 * which field failed and why. Unknown fields are ignored; unknown message types are refused. */
int pr_decode_json(const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
                   struct pr_err *err);
int pr_decode_msgpack(const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
                      struct pr_err *err);

/* Encoders: validate m, then append one JSON object / MessagePack map to out. On failure out is
 * left as it was and err is filled. */
int pr_encode_json(const struct pr_msg *m, struct cm_buf *out, struct pr_err *err);
int pr_encode_msgpack(const struct pr_msg *m, struct cm_buf *out, struct pr_err *err);

/* An event a daemon emits, as it is stored (MessagePack): completes its envelope (timestamp
 * now_ms, session_id when not NULL, job_id when not NULL and the message carries one), then
 * encodes it into out. 0, or -1 with err filled (an invalid event is a bug: not sent). */
int pr_event_encode(struct pr_msg *ev, const char *job_id, const char *session, int64_t now_ms,
                    struct cm_buf *out, struct pr_err *err);

/* Free-form values on their own (results, REST bodies): parse any JSON / MessagePack value with
 * the same limits as messages, or write one. Parsers return 0 or -EINVAL with err filled;
 * *out is then owned by the caller (pr_value_deinit). */
int pr_value_parse_json(const char *buf, size_t len, struct pr_value *out, struct pr_err *err);
int pr_value_parse_msgpack(const char *buf, size_t len, struct pr_value *out, struct pr_err *err);
void pr_value_write_json(const struct pr_value *v, struct cm_buf *out);
void pr_value_write_msgpack(const struct pr_value *v, struct cm_buf *out);

/* A command-line parameter "KEY=VALUE" into the object obj: VALUE is read as JSON when it parses
 * (2, [1,1,2], true, "x"), else taken as a string (otsu). Returns 0, or -1 when kv has no '='
 * or an empty or too long key. */
int pr_value_set_param(struct pr_value *obj, const char *kv);

/* Published messages (Redis pub/sub) carry one or more frames, each "<stream id>\n" followed by
 * one MessagePack event. pr_pub_next reads the frame at *pos into *f (pointers into buf) and
 * advances *pos: 1 for a frame, 0 at the end, -EINVAL (err filled) for a malformed one. The
 * event is only checked to be one well-formed value; decode it with pr_decode_msgpack. */
#define PR_MAX_STREAM_ID 41 /* "<ms>-<seq>": two 64-bit numbers and a dash */
struct pr_frame {
    const char *id, *ev;
    size_t id_len, ev_len;
};
int pr_pub_next(const char *buf, size_t len, size_t *pos, struct pr_frame *f, struct pr_err *err);

/* Appends the reference tables of every message (Markdown) to out; docs/PROTOCOL.md embeds it. */
void pr_doc_markdown(struct cm_buf *out);
/* TypeScript declarations of every message (an interface each, with its discriminator as a
 * literal type, and unions of the server, client and event messages), for web/. */
void pr_doc_typescript(struct cm_buf *out);

#endif
