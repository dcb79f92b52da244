/* zsa-synth: writes a synthetic z-stack (uint16 multi-page TIFF with ImageJ metadata) of
 * spheres with a known answer, and the ground truth as CSV. Used by tests, the demo and the
 * benchmarks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/synth.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: zsa-synth [options] OUT.tif\n"
            "Writes a synthetic z-stack of spheres (uint16, ImageJ metadata) and, with --truth,\n"
            "the ground truth (id,cx,cy,cz,radius,voxels; voxel coordinates).\n"
            "  --size XxYxZ          voxels (default 128x128x32)\n"
            "  --voxel DX,DY,DZ      voxel size in micron (default 0.5,0.5,1)\n"
            "  --radius R[,R...]     sphere radii in micron, used in turn (default 3)\n"
            "  --gap G               micron between spheres; negative: touching pairs (default 2)\n"
            "  --sigma SX,SY,SZ      Gaussian blur in voxels (default 1,1,0.7)\n"
            "  --background B        background level (default 100)\n"
            "  --foreground F        level inside spheres (default 1000)\n"
            "  --no-noise            no Poisson noise\n"
            "  --seed N              noise seed (default 1)\n"
            "  --max-spheres N       at most N spheres (default: as many as fit)\n"
            "  --truth FILE          write the ground truth CSV there\n"
            "  --bigtiff, --compress BigTIFF, deflate compression\n");
}

static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    for (char *end; *s && n < max; s = *end == ',' ? end + 1 : end) {
        out[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    struct za_synth_opts o;
    za_synth_defaults(&o);
    const char *truth = NULL;
    bool bigtiff = false, compress = false;
    static const struct option longopts[] = {
        {"size", 1, 0, 's'},        {"voxel", 1, 0, 'v'},    {"radius", 1, 0, 'r'},
        {"gap", 1, 0, 'g'},         {"sigma", 1, 0, 'S'},    {"background", 1, 0, 'b'},
        {"foreground", 1, 0, 'f'},  {"no-noise", 0, 0, 'N'}, {"seed", 1, 0, 'e'},
        {"max-spheres", 1, 0, 'm'}, {"truth", 1, 0, 't'},    {"bigtiff", 0, 0, 'B'},
        {"compress", 0, 0, 'C'},    {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        double l[8];
        int k;
        switch (c) {
        case 's':
            if (sscanf(optarg, "%dx%dx%d", &o.nx, &o.ny, &o.nz) != 3 || o.nx < 1 || o.ny < 1 ||
                o.nz < 1) {
                fprintf(stderr, "zsa-synth: --size: expected XxYxZ, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'v':
            if (parse_list(optarg, l, 3) != 3 || l[0] <= 0 || l[1] <= 0 || l[2] <= 0) {
                fprintf(stderr, "zsa-synth: --voxel: expected three positive numbers\n");
                return 2;
            }
            o.dx = l[0], o.dy = l[1], o.dz = l[2];
            break;
        case 'r':
            k = parse_list(optarg, l, 8);
            if (k < 1) {
                fprintf(stderr, "zsa-synth: --radius: expected numbers separated by commas\n");
                return 2;
            }
            memset(o.radius, 0, sizeof(o.radius));
            for (int i = 0; i < k; i++)
                o.radius[i] = l[i];
            break;
        case 'g': o.gap = atof(optarg); break;
        case 'S':
            if (parse_list(optarg, l, 3) != 3) {
                fprintf(stderr, "zsa-synth: --sigma: expected three numbers\n");
                return 2;
            }
            memcpy(o.sigma, l, sizeof(o.sigma));
            break;
        case 'b': o.background = atof(optarg); break;
        case 'f': o.foreground = atof(optarg); break;
        case 'N': o.noise = false; break;
        case 'e': o.seed = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'm': o.max_spheres = atoi(optarg); break;
        case 't': truth = optarg; break;
        case 'B': bigtiff = true; break;
        case 'C': compress = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    struct za_stack s;
    struct za_sphere *sp;
    int n;
    struct za_err err;
    if (za_synth(&o, &s, &sp, &n, &err) != 0) {
        fprintf(stderr, "zsa-synth: %s\n", err.message);
        return 2;
    }
    int rc = 0;
    if (za_tiff_write(argv[optind], &s, bigtiff, compress, &err) != 0) {
        fprintf(stderr, "zsa-synth: %s\n", err.message);
        rc = 1;
    }
    if (rc == 0 && truth) {
        FILE *f = fopen(truth, "w");
        if (!f) {
            perror(truth);
            rc = 1;
        } else {
            za_synth_write_truth(f, sp, n);
            fclose(f);
        }
    }
    if (rc == 0)
        printf("%s: %dx%dx%d uint16, %d spheres\n", argv[optind], s.nx, s.ny, s.nz, n);
    free(sp);
    za_stack_free(&s);
    return rc;
}
