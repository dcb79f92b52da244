/* Confinement of job input files to the data directories (see files.h). Any thread. */
#define _GNU_SOURCE
#include "analysis/input.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"

int za_roots_init(struct za_roots *r, const char *spec, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    char *copy = cm_xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        if (r->n == ZA_ROOTS_MAX) {
            snprintf(err, errlen, "--data-dir: at most %d directories", ZA_ROOTS_MAX);
            rc = -1;
            break;
        }
        char real[PATH_MAX];
        int fd = realpath(d, real) ? open(real, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd < 0) { /* a worker that runs only jobs without files needs none */
            cm_log(CM_LOG_WARN, "--data-dir %s: %s; jobs cannot name files there", d,
                   strerror(errno));
            continue;
        }
        r->fd[r->n] = fd;
        r->path[r->n++] = cm_xstrdup(real);
    }
    free(copy);
    if (rc != 0)
        za_roots_deinit(r);
    return rc;
}

void za_roots_deinit(struct za_roots *r)
{
    for (int i = 0; i < r->n; i++) {
        close(r->fd[i]);
        free(r->path[i]);
    }
    r->n = 0;
}

/* openat2 below root; -1 with errno (ENOSYS where the kernel lacks it). */
static int open_beneath(int root, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

/* Without openat2: the real path must lie below the root, and the last component must not be a
 * link (O_NOFOLLOW). A race with a rename between the two is what openat2 closes. */
static int open_checked(const char *root, const char *rel)
{
    char joined[PATH_MAX * 2], real[PATH_MAX];
    snprintf(joined, sizeof(joined), "%s/%s", root, rel);
    if (!realpath(joined, real))
        return -1;
    size_t n = strlen(root);
    if (strncmp(real, root, n) != 0 || real[n] != '/') {
        errno = EXDEV;
        return -1;
    }
    return open(real, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
}

static int open_in(const struct za_roots *r, int i, const char *rel)
{
    int fd = open_beneath(r->fd[i], rel);
    if (fd < 0 && errno == ENOSYS)
        fd = open_checked(r->path[i], rel);
    return fd;
}

int za_file_open(const struct za_roots *r, const char *file_path, const char **code, char *msg,
                 size_t msglen)
{
    int fd = -1, err = ENOENT;
    if (file_path[0] == '/') { /* only below a root, opened from that root */
        int root = -1;
        for (int i = 0; i < r->n && root < 0; i++) {
            size_t n = strlen(r->path[i]);
            if (strncmp(file_path, r->path[i], n) == 0 && file_path[n] == '/')
                root = i;
        }
        if (root < 0) {
            err = EXDEV;
        } else {
            fd = open_in(r, root, file_path + strlen(r->path[root]) + 1);
            err = fd < 0 ? errno : 0;
        }
    } else {
        for (int i = 0; i < r->n && fd < 0; i++) { /* the first root that has it */
            fd = open_in(r, i, file_path);
            if (fd < 0) {
                err = errno;
                if (err != ENOENT)
                    break;
            }
        }
    }
    if (fd < 0) {
        /* EXDEV: "..", an absolute symlink or path out of the root; ELOOP: a magic link
         * (/proc/self/fd/N) or, without openat2, a symlink as the last component */
        bool outside = err == EXDEV || err == ELOOP;
        *code = outside ? "FILE_NOT_ALLOWED" : "FILE_NOT_FOUND";
        snprintf(msg, msglen, "file_path: %.300s: %s", file_path,
                 outside ? "not inside the worker's data directories (--data-dir)" : strerror(err));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *code = "INVALID_IMAGE";
        snprintf(msg, msglen, "file_path: %.300s: not a regular file", file_path);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}
