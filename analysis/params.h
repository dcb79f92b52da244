/* Algorithm parameters as tables: each algorithm declares its parameters once (name, type,
 * range, default, doc); one reader validates a job's parameters against the table and returns
 * their values, and the same rows make `zsa-analyze --help` and the algorithms table of
 * docs/PROTOCOL.md. Checks that involve several parameters stay in the algorithm. Any thread. */
#ifndef ZA_PARAMS_H
#define ZA_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "proto/value.h"

enum za_ptype {
    ZA_P_NUM,           /* a finite number in [min, max] */
    ZA_P_INT,           /* an integer in [min, max]; with choices ("6|26") one of those */
    ZA_P_BOOL,          /* true or false */
    ZA_P_CHOICE,        /* one of the strings in choices ("max|min|mean") */
    ZA_P_XYZ,           /* a number or [x, y, z], each in [min, max] */
    ZA_P_NUMS,          /* an array of at most max_items numbers, each in [min, max] */
    ZA_P_CHOICE_OR_NUM, /* one of choices, or a finite number */
};

struct za_param {
    const char *name;
    enum za_ptype type;
    double min, max;
    const char *choices; /* "a|b|c" */
    int max_items;       /* ZA_P_NUMS */
    double def;          /* the value when absent (numbers); NAN: none */
    const char *def_doc; /* the default as the docs say it ("1", "\"otsu\"", "none") */
    const char *doc;
};

/* The parameters every algorithm that reads a stack takes (rows to put in its table). */
#define ZA_PARAM_CHANNEL                                                                           \
    {                                                                                              \
        "channel", ZA_P_INT, 0, 1e6, NULL, 0, 0, "0", "the channel to analyse (0-based)"           \
    }
#define ZA_PARAM_FRAME                                                                             \
    {                                                                                              \
        "frame", ZA_P_INT, 0, 1e9, NULL, 0, 0, "0", "the time frame (0-based)"                     \
    }

/* A parameter's value after za_params_read. */
struct za_pval {
    bool set;                   /* present in the job */
    double num;                 /* numbers: the value, or the default when absent */
    double xyz[3];              /* ZA_P_XYZ: the three values (all num when one was given) */
    int choice;                 /* ZA_P_CHOICE(_OR_NUM): index in choices, -1 for a number */
    bool b;                     /* ZA_P_BOOL */
    const struct pr_value *raw; /* the job's value (NUMS: read its items), or NULL */
};

/* Reads the n parameters of table ps from the job's parameters object p (NULL: none) into out[n]:
 * 0, or -1 with the reason, naming the parameter and what it accepts, in err. Parameters not in
 * the table are ignored (jobs may carry notes). */
int za_params_read(const struct za_param *ps, int n, const struct pr_value *p, struct za_pval *out,
                   char *err, size_t errlen);

/* What a parameter accepts, in words ("an integer from 2 to 1000"). */
void za_param_accepts(const struct za_param *ps, char *out, size_t n);

/* One line per parameter, "  name   accepts; default d. doc", for --help. */
void za_params_help(const struct za_param *ps, int n, struct cm_buf *out);

/* The algorithms table of docs/PROTOCOL.md (name, input, parameters), from the registry. */
void za_algos_markdown(struct cm_buf *out);

#endif
