/* zsa-protodoc: prints the message reference generated from proto/schema.h (Markdown), which
 * scripts/gen-protocol-doc.sh splices into docs/PROTOCOL.md. */
#include <stdio.h>

#include "proto/proto.h"

int main(void)
{
    struct cm_buf out = CM_BUF_INIT;
    pr_doc_markdown(&out);
    fwrite(out.data, 1, out.len, stdout);
    cm_buf_deinit(&out);
    return 0;
}
