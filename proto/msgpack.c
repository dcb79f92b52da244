/* MessagePack codec on msgpack-c. Input is first walked by a bounds-checking scanner (depth,
 * truncation, container counts no larger than the bytes left), so msgpack-c never allocates for
 * counts the input cannot hold; then unpacked into a value tree. Encoding packs straight from
 * the struct. Any thread. */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <string.h>

#include "common/alloc.h"
#include "common/text.h"
#include "common/time.h"
#include "proto/proto_internal.h"

/* ---- scanner ------------------------------------------------------------------------------- */

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the header at p[*pos]: *skip payload bytes follow; a container sets *count children. */
static int scan_header(const unsigned char *p, size_t len, size_t *pos, uint64_t *skip,
                       uint64_t *count, bool *container, struct pr_err *err)
{
    unsigned b = p[(*pos)++];
    int lenbytes = 0; /* size of a length field that follows the type byte */
    *skip = 0, *count = 0, *container = false;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        *container = true;
        *count = (uint64_t)(b & 0x0f) * ((b & 0xf0) == 0x80 ? 2 : 1);
        return 0;
    }
    if ((b & 0xe0) == 0xa0) {
        *skip = b & 0x1f;
        return 0;
    }
    switch (b) {
    case 0xc4:
    case 0xd9: lenbytes = 1; break; /* bin8, str8 */
    case 0xc5:
    case 0xda: lenbytes = 2; break; /* bin16, str16 */
    case 0xc6:
    case 0xdb: lenbytes = 4; break;            /* bin32, str32 */
    case 0xc7: lenbytes = 1, *skip = 1; break; /* ext8: + type byte */
    case 0xc8: lenbytes = 2, *skip = 1; break;
    case 0xc9: lenbytes = 4, *skip = 1; break;
    case 0xca:
    case 0xce:
    case 0xd2: *skip = 4; return 0; /* float32, u32, i32 */
    case 0xcb:
    case 0xcf:
    case 0xd3: *skip = 8; return 0; /* float64, u64, i64 */
    case 0xcc:
    case 0xd0: *skip = 1; return 0;
    case 0xcd:
    case 0xd1: *skip = 2; return 0;
    case 0xd4: *skip = 2; return 0; /* fixext1..16 */
    case 0xd5: *skip = 3; return 0;
    case 0xd6: *skip = 5; return 0;
    case 0xd7: *skip = 9; return 0;
    case 0xd8: *skip = 17; return 0;
    case 0xdc:
    case 0xde: lenbytes = 2, *container = true; break; /* array16, map16 */
    case 0xdd:
    case 0xdf: lenbytes = 4, *container = true; break; /* array32, map32 */
    default:
        return pr__fail(err, "message", "invalid MessagePack type byte 0x%02x at byte %zu", b,
                        *pos - 1);
    }
    if (len - *pos < (size_t)lenbytes)
        return pr__fail(err, "message", "truncated MessagePack at byte %zu", *pos);
    uint64_t n = be(p + *pos, lenbytes);
    *pos += (size_t)lenbytes;
    if (*container)
        *count = (b == 0xde || b == 0xdf) ? n * 2 : n;
    else
        *skip += n;
    return 0;
}

/* Checks the one value at the start of buf; *end is set to the byte after it. */
static int scan_value(const char *buf, size_t len, size_t *end, struct pr_err *err)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t left[PR_MAX_DEPTH + 1]; /* items still to read at each open level */
    int top = 0;
    size_t pos = 0;
    left[0] = 1;
    while (top >= 0) {
        if (left[top] == 0) {
            top--;
            continue;
        }
        left[top]--;
        if (pos >= len)
            return pr__fail(err, "message", "truncated MessagePack at byte %zu", pos);
        uint64_t skip, count;
        bool container;
        if (scan_header(p, len, &pos, &skip, &count, &container, err))
            return -EINVAL;
        if (skip > len - pos)
            return pr__fail(err, "message", "truncated MessagePack at byte %zu", pos);
        pos += (size_t)skip;
        if (!container)
            continue;
        if (top == PR_MAX_DEPTH)
            return pr__fail(err, "message", "nested deeper than %d levels", PR_MAX_DEPTH);
        if (count > len - pos) /* every item takes at least one byte */
            return pr__fail(err, "message",
                            "truncated MessagePack: container of %llu items at byte %zu",
                            (unsigned long long)count, pos);
        left[++top] = count;
    }
    *end = pos;
    return 0;
}

static int scan(const char *buf, size_t len, struct pr_err *err)
{
    size_t pos = 0;
    if (scan_value(buf, len, &pos, err))
        return -EINVAL;
    if (pos != len)
        return pr__fail(err, "message", "unexpected data after the MessagePack value at byte %zu",
                        pos);
    return 0;
}

/* "<digits>-<digits>" */
static bool stream_id_ok(const char *s, size_t n)
{
    size_t a = 0, b;
    while (a < n && s[a] >= '0' && s[a] <= '9')
        a++;
    if (a == 0 || a + 1 >= n || s[a] != '-')
        return false;
    for (b = a + 1; b < n && s[b] >= '0' && s[b] <= '9';)
        b++;
    return b == n;
}

int pr_pub_next(const char *buf, size_t len, size_t *pos, struct pr_frame *f, struct pr_err *err)
{
    if (*pos >= len)
        return 0;
    const char *id = buf + *pos;
    const char *nl = memchr(id, '\n', len - *pos);
    if (!nl || nl - id > PR_MAX_STREAM_ID || !stream_id_ok(id, (size_t)(nl - id)))
        return pr__fail(err, "message", "published frame at byte %zu: no stream id line", *pos);
    size_t at = (size_t)(nl + 1 - buf), n = 0;
    if (at >= len)
        return pr__fail(err, "message", "published frame at byte %zu: no event", *pos);
    if (scan_value(nl + 1, len - at, &n, err))
        return -EINVAL;
    f->id = id, f->id_len = (size_t)(nl - id);
    f->ev = nl + 1, f->ev_len = n;
    *pos = at + n;
    return 1;
}

/* ---- decode -------------------------------------------------------------------------------- */

static int from_mp(const msgpack_object *o, struct pr_value *out, const char *field,
                   struct pr_err *err)
{
    const char *name = field ? field : "message";
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = pr_value_null(); return 0;
    case MSGPACK_OBJECT_BOOLEAN: *out = pr_value_bool(o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) {
            out->type = PR_V_UINT;
            out->u.u = o->via.u64;
        } else {
            *out = pr_value_int((int64_t)o->via.u64);
        }
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = pr_value_int(o->via.i64); return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return pr__fail(err, name, "must be a finite number");
        *out = pr_value_double(o->via.f64);
        return 0;
    case MSGPACK_OBJECT_STR: {
        size_t bad;
        if (!cm_utf8_valid(o->via.str.ptr, o->via.str.size, &bad))
            return pr__fail(err, name, "invalid UTF-8 at byte %zu", bad);
        *out = pr_value_strn(o->via.str.ptr, o->via.str.size);
        return 0;
    }
    case MSGPACK_OBJECT_ARRAY: {
        uint32_t n = o->via.array.size;
        out->type = PR_V_ARRAY;
        out->u.a.items = cm_xcalloc(n ? n : 1, sizeof(struct pr_value));
        out->u.a.cap = n;
        out->u.a.n = 0;
        for (uint32_t i = 0; i < n; i++) {
            /* counted before it is filled: an item that fails half-built is freed with the
             * array (it leaked before; found by tests/fuzz/fuzz_frames) */
            out->u.a.n++;
            if (from_mp(&o->via.array.ptr[i], &out->u.a.items[i], name, err))
                return -EINVAL;
        }
        return 0;
    }
    case MSGPACK_OBJECT_MAP: {
        out->type = PR_V_OBJECT;
        out->u.o.m = NULL;
        out->u.o.n = out->u.o.cap = 0;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            size_t bad;
            if (kv->key.type != MSGPACK_OBJECT_STR)
                return pr__fail(err, name, "map keys must be strings");
            if (!cm_utf8_valid(kv->key.via.str.ptr, kv->key.via.str.size, &bad))
                return pr__fail(err, name, "invalid UTF-8 in a key at byte %zu", bad);
            pr_value__add_member(out, kv->key.via.str.ptr, kv->key.via.str.size, pr_value_null());
            struct pr_member *mb = &out->u.o.m[out->u.o.n - 1];
            if (from_mp(&kv->val, &mb->val, field ? field : mb->key, err))
                return -EINVAL;
        }
        return 0;
    }
    case MSGPACK_OBJECT_BIN: /* kept; only a BIN field accepts it (pr_validate) */
        out->type = PR_V_BIN;
        out->u.s.p = cm_xmemdup0(o->via.bin.ptr, o->via.bin.size);
        out->u.s.len = o->via.bin.size;
        return 0;
    case MSGPACK_OBJECT_EXT: return pr__fail(err, name, "extension values are not supported");
    }
    return pr__fail(err, name, "unsupported MessagePack type");
}

int pr_value_parse_msgpack(const char *buf, size_t len, struct pr_value *out, struct pr_err *err)
{
    *out = pr_value_null();
    if (pr__check_input_size(len, err) || scan(buf, len, err))
        return -EINVAL;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = -EINVAL;
    msgpack_unpack_return r = msgpack_unpack_next(&up, buf, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        /* the scanner accepted it, so this is memory exhaustion or a msgpack-c limit */
        pr__fail(err, "message", "MessagePack could not be unpacked (error %d)", (int)r);
    } else {
        rc = from_mp(&up.data, out, NULL, err);
        if (rc)
            pr_value_deinit(out);
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

int pr_decode_msgpack(const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
                      struct pr_err *err)
{
    return pr__decode(pr_value_parse_msgpack, buf, len, wire, m, err);
}

/* ---- encode -------------------------------------------------------------------------------- */

static int buf_write_cb(void *data, const char *p, size_t n)
{
    cm_buf_append(data, p, n);
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_value(msgpack_packer *pk, const struct pr_value *v)
{
    switch (v->type) {
    case PR_V_NULL: msgpack_pack_nil(pk); break;
    case PR_V_BOOL: v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case PR_V_INT: msgpack_pack_int64(pk, v->u.i); break;
    case PR_V_UINT: msgpack_pack_uint64(pk, v->u.u); break;
    case PR_V_DOUBLE: msgpack_pack_double(pk, v->u.d); break;
    case PR_V_STR: pack_str(pk, v->u.s.p, v->u.s.len); break;
    case PR_V_BIN:
        msgpack_pack_bin(pk, v->u.s.len);
        msgpack_pack_bin_body(pk, v->u.s.p, v->u.s.len);
        break;
    case PR_V_ARRAY:
        msgpack_pack_array(pk, v->u.a.n);
        for (size_t i = 0; i < v->u.a.n; i++)
            pack_value(pk, &v->u.a.items[i]);
        break;
    case PR_V_OBJECT:
        msgpack_pack_map(pk, v->u.o.n);
        for (size_t i = 0; i < v->u.o.n; i++) {
            pack_str(pk, v->u.o.m[i].key, v->u.o.m[i].klen);
            pack_value(pk, &v->u.o.m[i].val);
        }
        break;
    }
}

void pr_value_write_msgpack(const struct pr_value *v, struct cm_buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write_cb);
    pack_value(&pk, v);
}

static void pack_field(msgpack_packer *pk, const struct pr_msg *m, const struct pr_field *f)
{
    const void *slot = pr__slot(m, f);
    pack_str(pk, f->name, strlen(f->name));
    switch (f->type) {
    PR__STRING_CASES : {
        const char *s = *(char *const *)slot;
        pack_str(pk, s, strlen(s));
        return;
    }
    case PR_T_NUM: {
        double d = *(const double *)slot;
        isnan(d) ? msgpack_pack_nil(pk) : msgpack_pack_double(pk, d);
        return;
    }
    case PR_T_INT: msgpack_pack_int64(pk, *(const int64_t *)slot); return;
    case PR_T_BOOL: *(const bool *)slot ? msgpack_pack_true(pk) : msgpack_pack_false(pk); return;
    case PR_T_OBJECT: pack_value(pk, *(struct pr_value *const *)slot); return;
    case PR_T_BIN: {
        const struct pr_bin *b = slot;
        msgpack_pack_bin(pk, b->n);
        msgpack_pack_bin_body(pk, b->p, b->n);
        return;
    }
    case PR_T_STRS: {
        const struct pr_strs *s = slot;
        msgpack_pack_array(pk, s->n);
        for (size_t i = 0; i < s->n; i++)
            pack_str(pk, s->v[i], strlen(s->v[i]));
        return;
    }
    }
}

int pr_encode_msgpack(const struct pr_msg *m, struct cm_buf *out, struct pr_err *err)
{
    if (pr_validate(m, err))
        return -EINVAL;
    const struct pr_msgdesc *d = pr_msgdesc(m->type);
    const char *disc = pr__discriminator(d->family);
    size_t n = disc ? 1 : 0;
    for (size_t i = 0; i < d->nfields; i++)
        n += pr__field_present(m, &d->fields[i]);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write_cb);
    msgpack_pack_map(&pk, n);
    if (disc) {
        pack_str(&pk, disc, strlen(disc));
        pack_str(&pk, d->name, strlen(d->name));
    }
    for (size_t i = 0; i < d->nfields; i++) {
        if (pr__field_present(m, &d->fields[i]))
            pack_field(&pk, m, &d->fields[i]);
    }
    return 0;
}

int pr_event_encode(struct pr_msg *ev, const char *job_id, const char *session, int64_t now_ms,
                    struct cm_buf *out, struct pr_err *err)
{
    char ts[CM_RFC3339_LEN];
    pr_set_str(&ev->timestamp, cm_time_rfc3339(now_ms, ts));
    if (session)
        pr_set_str(&ev->session_id, session);
    if (job_id && pr_msgdesc(ev->type)->fields[3].presence != PR_P_NO) /* job events: job_id */
        pr_set_str(&ev->job_id, job_id);
    return pr_encode_msgpack(ev, out, err);
}
