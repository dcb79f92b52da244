/* GPU probe front end: dispatches to the CUDA probe when built with it. Any thread. */
#include "common/gpu.h"

#include <stdio.h>
#include <string.h>

void cm_gpu_probe(struct cm_gpu_probe *p)
{
    memset(p, 0, sizeof(*p));
#ifdef ZSA_HAVE_CUDA
    p->cuda_built = true;
    cm__gpu_cuda_probe(p);
#else
    snprintf(p->message, sizeof(p->message), "no CUDA device, using CPU (built without CUDA)");
#endif
}
