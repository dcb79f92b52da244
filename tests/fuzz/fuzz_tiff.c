/* libFuzzer target: the TIFF loader (analysis/tiff_io.c) on any file a job may name, read
 * from a memory file descriptor as the worker reads a job's file, with a small voxel budget. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "analysis/stack.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int fd = memfd_create("fuzz.tif", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct za_load_opts o = {.max_voxels = 1 << 20};
    struct za_stack s;
    struct za_err e;
    if (za_tiff_load_fd(fd, "fuzz.tif", &o, &s, &e) == 0) /* it closes fd */
        za_stack_free(&s);
    return 0;
}
