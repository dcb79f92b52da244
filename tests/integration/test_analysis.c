/* Integration: the analysis engine against an independent oracle. tests/oracle/oracle.py runs
 * zsa-synth and zsa-analyze (real processes), then scipy, scikit-image, numpy and tifffile
 * (Debian's python3-* packages, run by /usr/bin/python3, which install-deps provides) on the same
 * file with the same parameters, and compares: Otsu and Li thresholds, the label volume (same
 * partition, same numbering), volumes, centroids and weighted centroids within 1e-6, projections,
 * and intensity statistics. tests/oracle/previews.py decodes each preview.png with Pillow and
 * redraws it from the data with numpy (contrast, block means, label outlines and colours,
 * histogram bars). */
#include <criterion/criterion.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/proc.h"

/* Runs an oracle script on zsa-analyze's outputs in a fresh directory; expects `checks` lines of
 * "ok ". */
static void run_oracle(const char *script, int checks)
{
    char dir[] = "/tmp/zsa-oracle-XXXXXX", bin[512], cleanup[600];
    cr_assert_not_null(mkdtemp(dir));
    th_bin_path("zsa-analyze", bin, sizeof(bin));
    const char *argv[] = {script, dirname(bin), dir, NULL};
    struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/python3", argv, NULL, 280000, &res), 0,
                 "/usr/bin/python3 missing: scripts/install-deps.sh installs it");
    cr_assert_eq(res.status, 0, "%s disagrees (or python3-skimage/scipy/pil are missing):\n%s%s",
                 script, res.out, res.err);
    int n = 0;
    for (const char *p = res.out; (p = strstr(p, "ok ")); p += 3)
        n++;
    cr_expect_eq(n, checks, "%s", res.out);
    snprintf(cleanup, sizeof(cleanup), "rm -rf '%s'", dir);
    cr_expect_eq(system(cleanup), 0);
}

Test(analysis, agrees_with_scipy_and_scikit_image_on_the_same_file, .timeout = 300)
{
    run_oracle("tests/oracle/oracle.py", 6);
}

Test(analysis, previews_decode_with_pillow_and_match_the_data, .timeout = 300)
{
    run_oracle("tests/oracle/previews.py", 6);
}
