/* Tests common/text.c. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

Test(common_text, accepts_valid_utf8)
{
    const char *ok[] = {
        "", "ascii", "Zellkern ü", "日本語", "\xf0\x9f\x94\xac microscope", "\xef\xbf\xbf"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert(cm_utf8_valid(ok[i], strlen(ok[i]), NULL), "rejected #%zu", i);
}

Test(common_text, rejects_invalid_utf8_and_reports_the_offset)
{
    static const struct {
        const char *s;
        size_t bad;
    } cases[] = {
        {"ab\xff", 2},
        {"\xc3", 0},
        {"x\xc0\xaf", 1},        /* overlong '/' */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
        {"ok\xe2\x82", 2},       /* truncated */
        {"\x80", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t at = 999;
        cr_assert(!cm_utf8_valid(cases[i].s, strlen(cases[i].s), &at), "accepted #%zu", i);
        cr_assert_eq(at, cases[i].bad, "#%zu: offset %zu", i, at);
    }
}

Test(common_text, ids_are_limited_to_key_safe_characters)
{
    cr_assert(cm_id_valid("job-1.a_b:c", 11, 128));
    cr_assert(!cm_id_valid("", 0, 128));
    cr_assert(!cm_id_valid("a b", 3, 128));
    cr_assert(!cm_id_valid("a*", 2, 128));
    cr_assert(!cm_id_valid("abc", 3, 2));
    cr_assert(!cm_id_valid("\xc3\xbc", 2, 128));
    /* ids become file names (results, artifacts): never ".", ".." or hidden */
    cr_assert(!cm_id_valid(".", 1, 128));
    cr_assert(!cm_id_valid("..", 2, 128));
    cr_assert(!cm_id_valid(".x", 2, 128));
    cr_assert(cm_id_valid("x.", 2, 128));
}

Test(common_text, random_ids_are_url_safe_ids_of_128_bits_and_differ)
{
    char a[CM_RANDOM_ID_LEN + 2], b[CM_RANDOM_ID_LEN + 2];
    cm_random_id(a, sizeof(a), "s-");
    cm_random_id(b, sizeof(b), "s-");
    cr_assert_eq(strlen(a), 24, "%s", a);
    cr_assert(cm_id_valid(a, strlen(a), 128), "%s", a);
    cr_assert_str_neq(a, b);
    /* 10,000 draws: no repeat, and every base64url character shows up (not a counter) */
    static char seen[10000][CM_RANDOM_ID_LEN];
    bool chars[256] = {false};
    for (int i = 0; i < 10000; i++) {
        cm_random_id(seen[i], sizeof(seen[i]), "");
        for (const char *p = seen[i]; *p; p++)
            chars[(unsigned char)*p] = true;
    }
    qsort(seen, 10000, sizeof(seen[0]), (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < 10000; i++)
        cr_assert_str_neq(seen[i - 1], seen[i]);
    int distinct = 0;
    for (int c = 0; c < 256; c++)
        distinct += chars[c];
    cr_assert_eq(distinct, 64);
}

Test(common_text, base64url_matches_rfc4648_and_round_trips)
{
    /* RFC 4648 section 10 vectors, in the URL alphabet without padding */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char b[16];
        cr_assert_eq(cm_b64url_encode(in[i], strlen(in[i]), b, sizeof(b)), strlen(out[i]));
        cr_assert_str_eq(b, out[i]);
        char d[16];
        cr_assert_eq(cm_b64url_decode(out[i], strlen(out[i]), d, sizeof(d)), (long)strlen(in[i]));
        cr_assert_eq(memcmp(d, in[i], strlen(in[i])), 0);
    }
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char b[8];
    cm_b64url_encode(bytes, 3, b, sizeof(b));
    cr_assert_str_eq(b, "-_-_", "the URL alphabet: - and _");
    cr_assert_eq(cm_b64url_encode("foobar", 6, b, 8), 0, "no room for the NUL: refused");
}

Test(common_text, base64url_decode_refuses_what_is_not_canonical)
{
    unsigned char d[16];
    cr_assert_eq(cm_b64url_decode("Zg==", 4, d, sizeof(d)), -1, "padding");
    cr_assert_eq(cm_b64url_decode("Zm9v+", 5, d, sizeof(d)), -1, "the + of base64");
    cr_assert_eq(cm_b64url_decode("Z", 1, d, sizeof(d)), -1, "one sextet over");
    cr_assert_eq(cm_b64url_decode("Zh", 2, d, sizeof(d)), -1, "bits past the last byte");
    cr_assert_eq(cm_b64url_decode("Zm9vYmFy", 8, d, 5), -1, "longer than out");
}

Test(text, fnv1a_matches_the_published_vectors_and_numbers_print_in_full)
{
    cr_expect_eq(cm_hash_fnv1a("", 0), 0xcbf29ce484222325ULL);
    cr_expect_eq(cm_hash_fnv1a("a", 1), 0xaf63dc4c8601ec8cULL);
    cr_expect_eq(cm_hash_fnv1a("foobar", 6), 0x85944171f73967e8ULL);
    char b[24];
    cr_expect_str_eq(cm_fmt_ll(b, sizeof(b), -9223372036854775807LL - 1), "-9223372036854775808");
    cr_expect_str_eq(cm_fmt_ll(b, sizeof(b), 0), "0");
}

Test(text, http_ranges_as_rfc_9110_reads_them)
{
    uint64_t off = 99, len = 99;
    struct {
        const char *v;
        uint64_t size;
        int rc;
        uint64_t off, len;
    } cases[] = {
        {"bytes=0-9", 100, 1, 0, 10},
        {"bytes=90-", 100, 1, 90, 10},
        {"bytes=-10", 100, 1, 90, 10},
        {"bytes=-500", 100, 1, 0, 100},
        {"bytes=50-500", 100, 1, 50, 50},
        {"BYTES=0-0", 100, 1, 0, 1},
        {"bytes=99-99", 100, 1, 99, 1},
        {"bytes=100-", 100, -1, 0, 0},
        {"bytes=100-200", 100, -1, 0, 0},
        {"bytes=-0", 100, -1, 0, 0},
        {"bytes=0-", 0, -1, 0, 0},
        {"bytes=9-1", 100, 0, 0, 0},
        {"bytes=0-1,5-6", 100, 0, 0, 0},
        {"items=0-1", 100, 0, 0, 0},
        {"bytes=a-1", 100, 0, 0, 0},
        {"bytes=1-2x", 100, 0, 0, 0},
        {"bytes=-", 100, 0, 0, 0},
        {"bytes=99999999999999999999-", 100, 0, 0, 0},
        {NULL, 100, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = cm_http_range(cases[i].v, cases[i].size, &off, &len);
        cr_expect_eq(rc, cases[i].rc, "%s: %d", cases[i].v ? cases[i].v : "(none)", rc);
        if (rc == 1)
            cr_expect(off == cases[i].off && len == cases[i].len, "%s: %llu+%llu", cases[i].v,
                      (unsigned long long)off, (unsigned long long)len);
    }
}
