/* Free-form JSON values (the `parameters` and `summary` objects): a tree that keeps every value
 * exactly, including the int/float distinction and key order, so JSON -> MessagePack -> JSON
 * gives back the same text. Not thread-safe per tree. */
#ifndef PR_VALUE_H
#define PR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pr_vtype {
    PR_V_NULL,
    PR_V_BOOL,
    PR_V_INT,    /* int64 */
    PR_V_UINT,   /* uint64 above INT64_MAX */
    PR_V_DOUBLE, /* finite */
    PR_V_STR,    /* UTF-8, may contain NUL */
    PR_V_BIN,    /* bytes (MessagePack bin; kept in u.s); only BIN fields accept them */
    PR_V_ARRAY,
    PR_V_OBJECT,
};

struct pr_member;

struct pr_value {
    enum pr_vtype type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            char *p; /* owned, NUL-terminated */
            size_t len;
        } s;
        struct {
            struct pr_value *items; /* owned array */
            size_t n, cap;
        } a;
        struct {
            struct pr_member *m; /* owned array, in insertion order */
            size_t n, cap;
        } o;
    } u;
};

struct pr_member {
    char *key; /* owned, NUL-terminated */
    size_t klen;
    struct pr_value val;
};

/* Scalars by value (pr_value_str copies s). */
struct pr_value pr_value_null(void);
struct pr_value pr_value_bool(bool b);
struct pr_value pr_value_int(int64_t i);
struct pr_value pr_value_double(double d);
struct pr_value pr_value_str(const char *s);
struct pr_value pr_value_strn(const char *s, size_t n);

/* A new empty object or array on the heap; free with pr_value_free(). */
struct pr_value *pr_value_new_object(void);
struct pr_value *pr_value_new_array(void);

/* Appends; takes ownership of v's contents. obj must be an object / arr an array.
 * pr_value_set adds key (copied) or replaces the value of an existing key. */
void pr_value_set(struct pr_value *obj, const char *key, struct pr_value v);
void pr_value__add_member(struct pr_value *obj, const char *key, size_t klen, struct pr_value v);
void pr_value_push(struct pr_value *arr, struct pr_value v);

/* The member value or NULL. Borrowed. */
const struct pr_value *pr_value_get(const struct pr_value *obj, const char *key);

/* Deep copy / equality (same types, same order, bit-equal doubles). */
struct pr_value *pr_value_clone(const struct pr_value *v);
bool pr_value_equal(const struct pr_value *a, const struct pr_value *b);

/* Frees the contents of v (not v itself) / the contents and v. NULL is a no-op. */
void pr_value_deinit(struct pr_value *v);
void pr_value_free(struct pr_value *v);

#endif
