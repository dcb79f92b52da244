/* Declarations shared by the proto codecs (not part of the public API). */
#ifndef PR_PROTO_INTERNAL_H
#define PR_PROTO_INTERNAL_H

#include "proto/proto.h"

/* The field types held as char * (NULL when absent), for switch statements. */
#define PR__STRING_CASES                                                                           \
    case PR_T_ID:                                                                                  \
    case PR_T_TEXT:                                                                                \
    case PR_T_CODE:                                                                                \
    case PR_T_TIME:                                                                                \
    case PR_T_STREAMID

/* Fills err with field and a printf-style reason; returns -EINVAL. */
int pr__fail(struct pr_err *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The discriminator key of a family: "event_type", "type", or NULL for jobs. */
const char *pr__discriminator(enum pr_family f);

/* Fills m from a parsed root value (which it consumes: strings and objects are moved out, the
 * rest is freed). Checks the discriminator against wire, types, presence, then validates. */
int pr__msg_from_value(struct pr_value *root, enum pr_wire wire, struct pr_msg *m,
                       struct pr_err *err);

/* Parses with parse (pr_value_parse_json or _msgpack), then pr__msg_from_value. The decoders. */
int pr__decode(int (*parse)(const char *, size_t, struct pr_value *, struct pr_err *),
               const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
               struct pr_err *err);

/* Checks the size of an input before parsing ("message: empty input", "... exceeds"). */
int pr__check_input_size(size_t len, struct pr_err *err);

/* Whether field f of m goes on the wire: it exists in this message and is not an absent optional
 * value (nullable numbers are always sent). Both encoders use it. */
bool pr__field_present(const struct pr_msg *m, const struct pr_field *f);

static inline void *pr__slot(const struct pr_msg *m, const struct pr_field *f)
{
    return (char *)m + f->offset;
}

#endif
