/* zsa-proto: the schema table from the command line.
 *   zsa-proto doc                         the message reference (Markdown; make docs uses it)
 *   zsa-proto ts                          the same as TypeScript declarations (web/)
 *   zsa-proto check [--wire W] [--msgpack] [FILE]
 *                                         validate one message (stdin or FILE); print it as
 *                                         normalized JSON, or the error naming field and reason
 * W is server (default: events and control messages), client, or job. */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "proto/proto.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: zsa-proto doc | ts\n"
                 "       zsa-proto check [--wire server|client|job] [--msgpack] [FILE]\n"
                 "Validates one zsa message read from FILE or stdin against proto/schema.h and\n"
                 "prints it as normalized JSON (exit 0), or prints the field and the reason it\n"
                 "was refused (exit 1). Exit 2 on usage errors.\n");
}

static int read_all(FILE *f, struct cm_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cm_buf_append(b, chunk, n);
        if (b->len > 2 * PR_MAX_MESSAGE_BYTES)
            break; /* the decoder refuses it anyway */
    }
    return ferror(f) ? -1 : 0;
}

static int parse_wire(const char *w, enum pr_wire *wire)
{
    static const char *const names[] = {"server", "client", "job"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(w, names[i]) == 0) {
            *wire = (enum pr_wire)i;
            return 0;
        }
    }
    fprintf(stderr, "zsa-proto: --wire: must be server, client or job, got \"%s\"\n", w);
    return -1;
}

static int check(int argc, char **argv)
{
    enum pr_wire wire = PR_WIRE_SERVER;
    int msgpack = 0;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--msgpack") == 0) {
            msgpack = 1;
        } else if (strcmp(argv[i], "--wire") == 0 && i + 1 < argc) {
            if (parse_wire(argv[++i], &wire))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "zsa-proto: unknown option %s\n", argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    FILE *f = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        perror(path);
        return 2;
    }
    struct cm_buf in = CM_BUF_INIT, out = CM_BUF_INIT;
    int rc = read_all(f, &in);
    if (f != stdin)
        fclose(f);
    if (rc) {
        fprintf(stderr, "zsa-proto: read error\n");
        cm_buf_deinit(&in);
        return 2;
    }
    /* a trailing newline from echo or a file is not part of the message */
    while (!msgpack && in.len && (in.data[in.len - 1] == '\n' || in.data[in.len - 1] == '\r'))
        in.len--;
    struct pr_msg m;
    struct pr_err err;
    rc = msgpack ? pr_decode_msgpack(in.data ? in.data : "", in.len, wire, &m, &err)
                 : pr_decode_json(in.data ? in.data : "", in.len, wire, &m, &err);
    if (rc == 0 && pr_encode_json(&m, &out, &err) == 0) {
        printf("%s\n", out.data);
    } else {
        fprintf(stderr, "zsa-proto: invalid %s: %s\n", wire == PR_WIRE_JOB ? "job" : "message",
                err.text);
        rc = 1;
    }
    pr_msg_deinit(&m);
    cm_buf_deinit(&in);
    cm_buf_deinit(&out);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "doc") == 0) {
        struct cm_buf out = CM_BUF_INIT;
        pr_doc_markdown(&out);
        fwrite(out.data, 1, out.len, stdout);
        cm_buf_deinit(&out);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "ts") == 0) {
        struct cm_buf out = CM_BUF_INIT;
        pr_doc_typescript(&out);
        fwrite(out.data, 1, out.len, stdout);
        cm_buf_deinit(&out);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return check(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
