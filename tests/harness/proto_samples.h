/* Test harness: a valid sample of every message, built from the descriptor table alone, so
 * that tests looping over the schema cover a message as soon as it is declared. */
#ifndef TH_PROTO_SAMPLES_H
#define TH_PROTO_SAMPLES_H

#include <stdbool.h>

#include "proto/proto.h"

/* Fills m (initialised here) with valid values for every required field, and for optional and
 * nullable ones too when full. Values exercise escaping, UTF-8, floats and nesting. */
void th_sample_msg(struct pr_msg *m, enum pr_type t, bool full);

/* A free-form object with every value kind (nested objects, arrays, int, uint64, float, float
 * with integral value, bool, null, escapes, UTF-8, a NUL inside a string). Free with
 * pr_value_free(). */
struct pr_value *th_sample_object(void);

#endif
