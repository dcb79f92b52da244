/* The worker's input files, confined to its data directories (--data-dir, a comma-separated
 * list of roots): a job's file_path is relative to a root, or absolute inside one; nothing else
 * is opened (no "..", no symlink or /proc magic link out of a root, no FIFO or device). Any
 * thread once initialised (the roots are read-only after za_roots_init). */
#ifndef ZA_INPUT_H
#define ZA_INPUT_H

#include <stddef.h>

#define ZA_ROOTS_MAX 8

struct za_roots {
    int n;
    int fd[ZA_ROOTS_MAX];     /* O_PATH directory of each root */
    char *path[ZA_ROOTS_MAX]; /* its real path (symlinks resolved), no trailing slash */
};

/* Opens the roots of spec ("dir[,dir...]"); one that does not exist is left out with a warning
 * (its jobs then end FILE_NOT_FOUND or FILE_NOT_ALLOWED). 0, or -1 with the reason in err (more
 * than ZA_ROOTS_MAX). */
int za_roots_init(struct za_roots *r, const char *spec, char *err, size_t errlen);
void za_roots_deinit(struct za_roots *r);

/* Opens file_path for reading inside the roots: a relative path in the first root that has it,
 * an absolute one only below a root. openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) where the
 * kernel has it (5.6+), else realpath + prefix check + O_NOFOLLOW. Opened non-blocking, checked
 * to be a regular file, then made blocking. Returns the fd (the caller closes it), or -1 with
 * *code set (FILE_NOT_ALLOWED: outside every root; FILE_NOT_FOUND; INVALID_IMAGE: not a regular
 * file) and msg naming file_path as the job gave it, never a server path outside the roots. */
int za_file_open(const struct za_roots *r, const char *file_path, const char **code, char *msg,
                 size_t msglen);

#endif
