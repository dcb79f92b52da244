/* Tests proto/msgpack.c: malformed MessagePack (truncations at every byte, absurd counts, depth,
 * bad types, bad UTF-8, NaN) gets a clear error, no crash, no leak under ASan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/proto.h"
#include "tests/harness/proto_samples.h"

static int write_cb(void *data, const char *p, size_t n)
{
    cm_buf_append(data, p, n);
    return 0;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A processing_progress map whose progress value is written by fn. */
static void progress_with(struct cm_buf *b, void (*fn)(msgpack_packer *))
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, write_cb);
    msgpack_pack_map(&pk, 7);
    pk_str(&pk, "event_type"), pk_str(&pk, "processing_progress");
    pk_str(&pk, "timestamp"), pk_str(&pk, "2026-11-25T18:00:00.000Z");
    pk_str(&pk, "job_id"), pk_str(&pk, "j1");
    pk_str(&pk, "image_id"), pk_str(&pk, "i1");
    pk_str(&pk, "current_step"), pk_str(&pk, "Loading data");
    pk_str(&pk, "eta_seconds"), msgpack_pack_nil(&pk);
    pk_str(&pk, "progress");
    fn(&pk);
}

static void v_nan(msgpack_packer *pk)
{
    msgpack_pack_double(pk, NAN);
}
static void v_inf32(msgpack_packer *pk)
{
    msgpack_pack_float(pk, INFINITY);
}
static void v_str(msgpack_packer *pk)
{
    pk_str(pk, "50");
}
static void v_bin(msgpack_packer *pk)
{
    msgpack_pack_bin(pk, 2);
    msgpack_pack_bin_body(pk, "ab", 2);
}
static void v_ext(msgpack_packer *pk)
{
    msgpack_pack_ext(pk, 1, 5);
    msgpack_pack_ext_body(pk, "x", 1);
}
static void v_101(msgpack_packer *pk)
{
    msgpack_pack_uint8(pk, 101);
}
static void v_ok(msgpack_packer *pk)
{
    msgpack_pack_float(pk, 25.0f);
}
static void v_bad_utf8(msgpack_packer *pk)
{
    msgpack_pack_str(pk, 2);
    msgpack_pack_str_body(pk, "\xc3\x28", 2);
}
static void v_int_key_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 2);
}

static void expect(const char *what, const char *buf, size_t len, enum pr_wire wire,
                   const char *field, const char *reason)
{
    struct pr_msg m;
    struct pr_err err = {{0}, {0}};
    int rc = pr_decode_msgpack(buf, len, wire, &m, &err);
    cr_expect_eq(rc, -EINVAL, "%s: accepted", what);
    if (rc == -EINVAL) {
        cr_expect_str_eq(err.field, field, "%s: %s", what, err.text);
        cr_expect(strstr(err.text, reason), "%s: \"%s\" lacks \"%s\"", what, err.text, reason);
    }
    pr_msg_deinit(&m);
}

Test(proto_msgpack, bad_values_are_named)
{
    static const struct {
        const char *what;
        void (*fn)(msgpack_packer *);
        const char *field, *reason;
    } cases[] = {
        {"NaN", v_nan, "progress", "finite"},
        {"float32 infinity", v_inf32, "progress", "finite"},
        {"string", v_str, "progress", "expected a number, got string"},
        {"binary", v_bin, "progress", "expected a number, got bytes"},
        {"extension", v_ext, "progress", "extension values are not supported"},
        {"101", v_101, "progress", "must be from 0 to 100"},
        {"invalid UTF-8", v_bad_utf8, "progress", "invalid UTF-8"},
        {"map with integer keys", v_int_key_map, "progress", "map keys must be strings"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cm_buf b = CM_BUF_INIT;
        progress_with(&b, cases[i].fn);
        expect(cases[i].what, b.data, b.len, PR_WIRE_SERVER, cases[i].field, cases[i].reason);
        cm_buf_deinit(&b);
    }
    struct cm_buf ok = CM_BUF_INIT;
    struct pr_msg m;
    struct pr_err err;
    progress_with(&ok, v_ok);
    cr_assert_eq(pr_decode_msgpack(ok.data, ok.len, PR_WIRE_SERVER, &m, &err), 0, "%s", err.text);
    cr_assert_float_eq(m.u.processing_progress.progress, 25.0, 0);
    pr_msg_deinit(&m);
    cm_buf_deinit(&ok);
}

Test(proto_msgpack, every_truncation_of_every_message_is_refused)
{
    int n = 0;
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        struct pr_msg m;
        struct pr_err err;
        struct cm_buf b = CM_BUF_INIT;
        th_sample_msg(&m, t, true);
        cr_assert_eq(pr_encode_msgpack(&m, &b, &err), 0);
        enum pr_family fam = pr_msgdesc(t)->family;
        enum pr_wire w = fam == PR_FAM_CLIENT ? PR_WIRE_CLIENT
                         : fam == PR_FAM_JOB  ? PR_WIRE_JOB
                                              : PR_WIRE_SERVER;
        for (size_t cut = 1; cut < b.len; cut++) {
            char *copy = cm_xmemdup0(b.data, cut); /* exact-size heap copy: ASan sees overreads */
            char what[64];
            snprintf(what, sizeof(what), "%s cut at %zu", pr_msgdesc(t)->name, cut);
            expect(what, copy, cut, w, "message", "truncated MessagePack");
            free(copy);
            n++;
        }
        pr_msg_deinit(&m);
        cm_buf_deinit(&b);
    }
    cr_assert_gt(n, 1000);
}

Test(proto_msgpack, structural_errors_are_refused)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
        const char *field, *reason;
    } cases[] = {
        {"empty input", "", 0, "message", "empty input"},
        {"reserved byte 0xc1", "\xc1", 1, "message", "invalid MessagePack type byte 0xc1"},
        {"array32 claiming 4 billion items", "\xdd\xff\xff\xff\xff\x01", 6, "message",
         "container of 4294967295 items"},
        {"map32 claiming 4 billion pairs", "\xdf\xff\xff\xff\xff", 5, "message", "truncated"},
        {"str32 claiming 4 GB",
         "\xdb\xff\xff\xff\xff"
         "ab",
         7, "message", "truncated"},
        {"bin16 cut short", "\xc5\x00\x10xx", 5, "message", "truncated"},
        {"float64 cut short", "\xcb\x00\x00", 3, "message", "truncated"},
        {"trailing byte", "\x80\x00", 2, "message", "unexpected data after"},
        {"array root", "\x90", 1, "message", "expected an object, got array"},
        {"string root", "\xa1x", 2, "message", "expected an object, got string"},
        {"empty map", "\x80", 1, "event_type", "required field is missing"},
        {"event_type an integer",
         "\x81\xaa"
         "event_type"
         "\x05",
         13, "event_type", "expected a string"},
        {"unknown event_type",
         "\x81\xaa"
         "event_type"
         "\xa3"
         "foo",
         16, "event_type", "unknown message type \"foo\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *copy = cm_xmemdup0(cases[i].bytes, cases[i].len);
        expect(cases[i].what, copy, cases[i].len, PR_WIRE_SERVER, cases[i].field, cases[i].reason);
        free(copy);
    }
}

Test(proto_msgpack, nesting_depth_1000_is_refused)
{
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_append(&b, "\x81\xa4type\xa4ping", 11); /* one more member follows: see the 0x82 below */
    b.data[0] = (char)0x82;
    cm_buf_append(&b, "\xa1x", 2);
    for (int i = 0; i < 1000; i++)
        cm_buf_putc(&b, (char)0x91); /* fixarray of one */
    cm_buf_putc(&b, 0x01);
    expect("depth 1000", b.data, b.len, PR_WIRE_CLIENT, "message", "nested deeper than 32 levels");
    cm_buf_deinit(&b);
}

Test(proto_msgpack, ten_megabyte_input_is_refused)
{
    size_t n = 10 * 1024 * 1024;
    char *s = cm_xcalloc(1, n);
    s[0] = (char)0xdb;
    expect("10 MB", s, n, PR_WIRE_SERVER, "message", "exceeds the limit");
    free(s);
}

Test(proto_msgpack, free_form_values_round_trip_exactly)
{
    struct pr_value *o = th_sample_object(), back;
    struct pr_err err;
    struct cm_buf b = CM_BUF_INIT;
    pr_value_write_msgpack(o, &b);
    cr_assert_eq(pr_value_parse_msgpack(b.data, b.len, &back, &err), 0, "%s", err.text);
    cr_assert(pr_value_equal(o, &back));
    pr_value_deinit(&back);
    pr_value_free(o);
    cm_buf_deinit(&b);
}

Test(proto_msgpack, repeated_key_last_wins_as_in_json)
{
    /* {"type":"cancel","job_id":"first","job_id":"second"} */
    const char mp[] = "\x83\xa4type\xa6"
                      "cancel\xa6job_id\xa5"
                      "first\xa6job_id\xa6"
                      "second";
    struct pr_msg m;
    struct pr_err err = {0};
    cr_assert_eq(pr_decode_msgpack(mp, sizeof(mp) - 1, PR_WIRE_CLIENT, &m, &err), 0, "%s",
                 err.text);
    cr_assert_str_eq(m.u.cancel.job_id, "second");
    pr_msg_deinit(&m);
}

/* A published message with one frame per server event type (ids 1-0, 2-0, ...). */
static void pub_message(struct cm_buf *out, int *nframes)
{
    *nframes = 0;
    for (int t = 0; t < PR__TYPE_COUNT; t++) {
        if (pr_msgdesc(t)->family == PR_FAM_CLIENT || pr_msgdesc(t)->family == PR_FAM_JOB)
            continue;
        struct pr_msg m;
        struct pr_err err = {0};
        th_sample_msg(&m, t, *nframes % 2 == 0);
        cm_buf_printf(out, "%d-%d\n", *nframes + 1, *nframes);
        cr_assert_eq(pr_encode_msgpack(&m, out, &err), 0, "%s", err.text);
        pr_msg_deinit(&m);
        (*nframes)++;
    }
}

Test(proto_pub, frames_split_in_order_and_decode)
{
    struct cm_buf b = CM_BUF_INIT;
    int n;
    pub_message(&b, &n);
    cr_assert_gt(n, 5);
    size_t pos = 0;
    struct pr_frame f;
    struct pr_err err = {0};
    int seen = 0, rc;
    while ((rc = pr_pub_next(b.data, b.len, &pos, &f, &err)) == 1) {
        char id[32];
        snprintf(id, sizeof(id), "%d-%d", seen + 1, seen);
        cr_assert_eq(f.id_len, strlen(id));
        cr_assert_eq(memcmp(f.id, id, f.id_len), 0, "frame %d has id %.*s", seen, (int)f.id_len,
                     f.id);
        struct pr_msg m;
        cr_assert_eq(pr_decode_msgpack(f.ev, f.ev_len, PR_WIRE_SERVER, &m, &err), 0,
                     "frame %d: %s: %s", seen, err.field, err.text);
        pr_msg_deinit(&m);
        seen++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(seen, n);
    cr_assert_eq(pos, b.len);
    cm_buf_deinit(&b);
}

Test(proto_pub, every_truncation_is_an_error_or_ends_at_a_frame_boundary)
{
    struct cm_buf b = CM_BUF_INIT;
    int n;
    pub_message(&b, &n);
    /* frame boundaries: a cut there is a shorter valid message */
    size_t bounds[64] = {0}, nb = 0, pos = 0;
    struct pr_frame f;
    struct pr_err err = {0};
    while (nb < 64 && pr_pub_next(b.data, b.len, &pos, &f, &err) == 1)
        bounds[nb++] = pos;
    for (size_t cut = 1; cut < b.len; cut++) {
        char *copy = cm_xmemdup0(b.data, cut);
        int rc, frames = 0;
        pos = 0;
        while ((rc = pr_pub_next(copy, cut, &pos, &f, &err)) == 1)
            frames++;
        bool boundary = false;
        for (size_t i = 0; i < nb; i++)
            boundary |= bounds[i] == cut;
        if (boundary)
            cr_assert_eq(rc, 0, "cut at %zu (a frame boundary) must parse", cut);
        else
            cr_assert_eq(rc, -EINVAL, "cut at %zu must be refused, got %d after %d frames", cut, rc,
                         frames);
        free(copy);
    }
    cm_buf_deinit(&b);
}

Test(proto_pub, malformed_id_lines_are_refused)
{
    static const char *bad[] = {"\n\x80",     "1-0",
                                "abc\n\x80",  "1-0-0\n\x80",
                                "-1\n\x80",   "1-\n\x80",
                                "1--2\n\x80", "1-0\n",
                                "1-0\n\xc1",  "123456789012345678901-12345678901234567890\n\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t pos = 0;
        struct pr_frame f;
        struct pr_err err = {0};
        cr_assert_eq(pr_pub_next(bad[i], strlen(bad[i]), &pos, &f, &err), -EINVAL, "case %zu", i);
        cr_assert_str_eq(err.field, "message");
    }
    size_t pos = 0;
    struct pr_frame f;
    struct pr_err err = {0};
    cr_assert_eq(pr_pub_next("1700000000000-12\n\x80", 18, &pos, &f, &err), 1);
    cr_assert_eq(f.ev_len, 1);
    cr_assert_eq(pr_pub_next("1700000000000-12\n\x80", 18, &pos, &f, &err), 0);
}

/* An array whose element fails half-built is freed whole (LeakSanitizer catches a regression):
 * [[{"b": 1}, <ext>]] — found by tests/fuzz/fuzz_frames (then with a bin, accepted since). */
Test(proto_msgpack, refused_nested_values_leave_nothing_allocated)
{
    static const unsigned char buf[] = {0x91, 0x92, 0x81, 0xa1, 'b', 0x01, 0xd4, 0x01, 0x00};
    struct pr_value v;
    struct pr_err err;
    cr_assert_neq(pr_value_parse_msgpack((const char *)buf, sizeof(buf), &v, &err), 0);
    cr_assert(strstr(err.text, "extension"), "%s", err.text);
    struct pr_msg m;
    cr_assert_neq(pr_decode_msgpack((const char *)buf, sizeof(buf), PR_WIRE_SERVER, &m, &err), 0);
    pr_msg_deinit(&m);
}

/* Bytes go only where the schema says: a preview's data round-trips byte for byte (NUL and
 * non-UTF-8 included) and the JSON encoding leaves it out; inside a free-form object they are
 * refused. */
Test(proto_msgpack, bytes_only_in_bin_fields)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff};
    struct pr_msg m, back;
    struct pr_err err;
    struct cm_buf mp = CM_BUF_INIT, js = CM_BUF_INIT;
    pr_msg_init(&m, PR_PREVIEW);
    pr_set_str(&m.u.preview.job_id, "j1");
    pr_set_str(&m.u.preview.result_id, "j1.r1");
    pr_set_str(&m.u.preview.content_type, "image/png");
    pr_set_str(&m.u.preview.url, "/api/results/j1.r1/artifacts/preview.png");
    m.u.preview.width = 3, m.u.preview.height = 2;
    m.u.preview.data.p = malloc(sizeof(png));
    memcpy(m.u.preview.data.p, png, sizeof(png));
    m.u.preview.data.n = sizeof(png);
    cr_assert_eq(pr_encode_msgpack(&m, &mp, &err), 0, "%s", err.text);
    cr_assert_eq(pr_decode_msgpack(mp.data, mp.len, PR_WIRE_SERVER, &back, &err), 0, "%s",
                 err.text);
    cr_assert_eq(back.u.preview.data.n, sizeof(png));
    cr_assert_eq(memcmp(back.u.preview.data.p, png, sizeof(png)), 0);
    cr_assert_eq(pr_encode_json(&back, &js, &err), 0, "%s", err.text);
    cm_buf_putc(&js, '\0');
    cr_assert(!strstr(js.data, "\"data\"") && strstr(js.data, "\"url\""), "%s", js.data);
    pr_msg_deinit(&back);
    pr_msg_deinit(&m);

    pr_msg_init(&m, PR_JOB);
    pr_set_str(&m.u.job.image_id, "i1");
    pr_set_str(&m.u.job.algorithm, "simulate");
    m.u.job.parameters = pr_value_new_object();
    struct pr_value b = {.type = PR_V_BIN};
    b.u.s.p = malloc(2), b.u.s.len = 2;
    memcpy(b.u.s.p, "\x01\x02", 2);
    pr_value_set(m.u.job.parameters, "x", b);
    cm_buf_reset(&mp);
    cr_assert_neq(pr_encode_msgpack(&m, &mp, &err), 0);
    cr_assert_str_eq(err.field, "parameters");
    cr_assert(strstr(err.text, "binary"), "%s", err.text);
    pr_msg_deinit(&m);
    cm_buf_deinit(&mp);
    cm_buf_deinit(&js);
}
