/* Tests proto/schema.c through the codecs: every message declared in proto/schema.h round-trips
 * JSON -> struct -> MessagePack -> struct -> JSON unchanged; the loop walks the descriptor
 * table, so a new message cannot be skipped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "proto/proto.h"
#include "tests/harness/proto_samples.h"

/* JSON text -> struct -> MessagePack -> struct -> JSON text. */
static void round_trip(const char *json, enum pr_wire wire, struct cm_buf *out)
{
    struct pr_msg a, b;
    struct pr_err err;
    struct cm_buf mp = CM_BUF_INIT;
    cr_assert_eq(pr_decode_json(json, strlen(json), wire, &a, &err), 0, "%s in %s", err.text, json);
    cr_assert_eq(pr_encode_msgpack(&a, &mp, &err), 0, "%s", err.text);
    cr_assert_eq(pr_decode_msgpack(mp.data, mp.len, wire, &b, &err), 0, "%s", err.text);
    cr_assert_eq(b.type, a.type);
    cr_assert_eq(pr_encode_json(&b, out, &err), 0, "%s", err.text);
    pr_msg_deinit(&a);
    pr_msg_deinit(&b);
    cm_buf_deinit(&mp);
}

static enum pr_wire wire_of(enum pr_family f)
{
    return f == PR_FAM_CLIENT ? PR_WIRE_CLIENT : f == PR_FAM_JOB ? PR_WIRE_JOB : PR_WIRE_SERVER;
}

Test(proto_schema, every_message_round_trips_json_msgpack_json_unchanged)
{
    int covered = 0;
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        const struct pr_msgdesc *d = pr_msgdesc(t);
        for (int full = 0; full <= 1; full++) {
            struct pr_msg m;
            struct pr_err err;
            struct cm_buf j1 = CM_BUF_INIT, j2 = CM_BUF_INIT;
            th_sample_msg(&m, t, full);
            cr_assert_eq(pr_encode_json(&m, &j1, &err), 0, "%s: %s", d->name, err.text);
            round_trip(j1.data, wire_of(d->family), &j2);
            cr_assert_str_eq(j2.data, j1.data, "%s changed in the round trip", d->name);
            pr_msg_deinit(&m);
            cm_buf_deinit(&j1);
            cm_buf_deinit(&j2);
        }
        covered++;
    }
    cr_assert_eq(covered, PR__TYPE_COUNT);
}

Test(proto_schema, structs_survive_both_codecs_field_for_field)
{
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        const struct pr_msgdesc *d = pr_msgdesc(t);
        struct pr_msg m, back;
        struct pr_err err;
        struct cm_buf mp = CM_BUF_INIT, js = CM_BUF_INIT;
        th_sample_msg(&m, t, true);
        cr_assert_eq(pr_encode_msgpack(&m, &mp, &err), 0, "%s", err.text);
        cr_assert_eq(pr_decode_msgpack(mp.data, mp.len, wire_of(d->family), &back, &err), 0,
                     "%s: %s", d->name, err.text);
        for (size_t i = 0; i < d->nfields; i++) {
            const struct pr_field *f = &d->fields[i];
            const void *x = (const char *)&m + f->offset, *y = (const char *)&back + f->offset;
            switch (f->type) {
            case PR_T_NUM:
                cr_assert_eq(*(const double *)x, *(const double *)y, "%s.%s", d->name, f->name);
                break;
            case PR_T_INT: cr_assert_eq(*(const int64_t *)x, *(const int64_t *)y); break;
            case PR_T_BOOL: cr_assert_eq(*(const bool *)x, *(const bool *)y); break;
            case PR_T_OBJECT:
                cr_assert(
                    pr_value_equal(*(struct pr_value *const *)x, *(struct pr_value *const *)y),
                    "%s.%s", d->name, f->name);
                break;
            case PR_T_BIN: {
                const struct pr_bin *a = x, *b = y;
                cr_assert(a->n == b->n && memcmp(a->p, b->p, a->n) == 0, "%s.%s", d->name, f->name);
                break;
            }
            case PR_T_STRS: {
                const struct pr_strs *a = x, *b = y;
                cr_assert_eq(a->n, b->n);
                for (size_t k = 0; k < a->n; k++)
                    cr_assert_str_eq(a->v[k], b->v[k]);
                break;
            }
            default:
                if (f->presence != PR_P_NO)
                    cr_assert_str_eq(*(char *const *)x, *(char *const *)y, "%s.%s", d->name,
                                     f->name);
            }
        }
        cr_assert_eq(pr_encode_json(&back, &js, &err), 0);
        pr_msg_deinit(&m);
        pr_msg_deinit(&back);
        cm_buf_deinit(&mp);
        cm_buf_deinit(&js);
    }
}

Test(proto_schema, missing_required_field_is_named_for_every_message)
{
    int checked = 0;
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        const struct pr_msgdesc *d = pr_msgdesc(t);
        for (size_t k = 0; k < d->nfields; k++) {
            if (d->fields[k].presence != PR_P_REQ)
                continue;
            /* encode a full sample, then drop field k from the parsed tree and re-encode */
            struct pr_msg m, out;
            struct pr_err err;
            struct cm_buf js = CM_BUF_INIT, mp = CM_BUF_INIT;
            th_sample_msg(&m, t, true);
            cr_assert_eq(pr_encode_json(&m, &js, &err), 0);
            struct pr_value root;
            cr_assert_eq(pr_value_parse_json(js.data, js.len, &root, &err), 0);
            for (size_t i = 0; i < root.u.o.n; i++) {
                if (strcmp(root.u.o.m[i].key, d->fields[k].name) == 0) {
                    /* renaming the key keeps the rest intact and tests "unknown keys ignored" */
                    root.u.o.m[i].key[0] = '~';
                }
            }
            cm_buf_reset(&js);
            pr_value_write_json(&root, &js);
            pr_value_write_msgpack(&root, &mp);
            cr_assert_eq(pr_decode_json(js.data, js.len, wire_of(d->family), &out, &err), -EINVAL,
                         "%s without %s accepted", d->name, d->fields[k].name);
            cr_assert_str_eq(err.field, d->fields[k].name);
            cr_assert(strstr(err.text, "required field is missing"), "%s", err.text);
            pr_msg_deinit(&out);
            cr_assert_eq(pr_decode_msgpack(mp.data, mp.len, wire_of(d->family), &out, &err),
                         -EINVAL);
            cr_assert_str_eq(err.field, d->fields[k].name);
            pr_msg_deinit(&out);
            pr_value_deinit(&root);
            pr_msg_deinit(&m);
            cm_buf_deinit(&js);
            cm_buf_deinit(&mp);
            checked++;
        }
    }
    cr_assert_gt(checked, 30, "only %d required fields", checked);
}

Test(proto_schema, encoders_refuse_invalid_structs)
{
    struct pr_msg m;
    struct pr_err err;
    struct cm_buf out = CM_BUF_INIT;
    th_sample_msg(&m, PR_PROCESSING_PROGRESS, true);
    m.u.processing_progress.progress = 101;
    cr_assert_eq(pr_encode_json(&m, &out, &err), -EINVAL);
    cr_assert_str_eq(err.field, "progress");
    cr_assert_eq(pr_encode_msgpack(&m, &out, &err), -EINVAL);
    cr_assert_eq(out.len, 0, "nothing may be written on failure");
    m.u.processing_progress.progress = 50;
    m.u.processing_progress.eta_seconds = -1;
    cr_assert_eq(pr_encode_json(&m, &out, &err), -EINVAL);
    cr_assert_str_eq(err.field, "eta_seconds");
    m.u.processing_progress.eta_seconds = NAN; /* unknown: allowed, sent as null */
    cr_assert_eq(pr_encode_json(&m, &out, &err), 0, "%s", err.text);
    cr_assert(strstr(out.data, "\"eta_seconds\":null"), "%s", out.data);
    free(m.job_id);
    m.job_id = NULL;
    cm_buf_reset(&out);
    cr_assert_eq(pr_encode_json(&m, &out, &err), -EINVAL);
    cr_assert_str_eq(err.field, "job_id");
    pr_msg_deinit(&m);
    cm_buf_deinit(&out);
}

Test(proto_schema, builds_a_seed_event_with_the_public_api)
{
    struct pr_msg m;
    struct pr_err err;
    struct cm_buf out = CM_BUF_INIT;
    pr_msg_init(&m, PR_SYSTEM_STATUS);
    pr_set_str(&m.timestamp, "2026-11-25T18:00:00.000Z");
    m.u.system_status.gpu_utilization = 78.5;
    m.u.system_status.gpu_memory_used_mb = 8192;
    m.u.system_status.gpu_memory_total_mb = 16384;
    m.u.system_status.queue_length = 3;
    m.u.system_status.active_processing_count = 2;
    m.u.system_status.workers_online = 2;
    cr_assert_eq(pr_encode_json(&m, &out, &err), 0, "%s", err.text);
    cr_assert_str_eq(out.data,
                     "{\"event_type\":\"system_status\",\"timestamp\":\"2026-11-25T18:00:00.000Z\","
                     "\"gpu_utilization\":78.5,\"gpu_memory_used_mb\":8192,"
                     "\"gpu_memory_total_mb\":16384,\"queue_length\":3,"
                     "\"active_processing_count\":2,\"workers_online\":2}");
    pr_msg_deinit(&m);
    cm_buf_deinit(&out);
}

Test(proto_schema, reference_doc_lists_every_message_and_field)
{
    struct cm_buf doc = CM_BUF_INIT;
    pr_doc_markdown(&doc);
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        const struct pr_msgdesc *d = pr_msgdesc(t);
        char head[96];
        snprintf(head, sizeof(head), "### `%s`", d->name);
        cr_assert(strstr(doc.data, head), "doc lacks %s", d->name);
        for (size_t i = 0; i < d->nfields; i++) {
            char cell[96];
            snprintf(cell, sizeof(cell), "| `%s` |", d->fields[i].name);
            if (d->fields[i].presence != PR_P_NO)
                cr_assert(strstr(doc.data, cell), "doc lacks %s.%s", d->name, d->fields[i].name);
        }
    }
    cm_buf_deinit(&doc);
}

Test(proto_schema, lookup_by_name_respects_the_wire)
{
    cr_assert_not_null(pr_msgdesc_by_name(PR_WIRE_SERVER, "processing_failed", 17));
    cr_assert_not_null(pr_msgdesc_by_name(PR_WIRE_SERVER, "connected", 9));
    cr_assert_null(pr_msgdesc_by_name(PR_WIRE_CLIENT, "connected", 9));
    cr_assert_not_null(pr_msgdesc_by_name(PR_WIRE_CLIENT, "ping", 4));
    cr_assert_null(pr_msgdesc_by_name(PR_WIRE_SERVER, "ping", 4));
    cr_assert_null(pr_msgdesc_by_name(PR_WIRE_SERVER, "processing", 10));
}

Test(proto_schema, every_message_fits_the_decoders_field_mask)
{
    /* pr__msg_from_value tracks seen fields in a uint64_t */
    for (int t = 0; t < PR__TYPE_COUNT; t++)
        cr_assert_leq(pr_msgdesc(t)->nfields, 64, "%s", pr_msgdesc(t)->name);
}
