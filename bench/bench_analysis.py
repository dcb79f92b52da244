#!/usr/bin/python3
"""Benchmark of segmentation_3d against the scipy/scikit-image pipeline, same file, same run.

usage: /usr/bin/python3 bench/bench_analysis.py BIN_DIR [--sizes 64,256] [--runs N]

For each stack (512 x 512 x Z uint16 from zsa-synth, 1-unit voxels, so sigma = 1 voxel): zsa-analyze --repeat N (run 1 is "cold":
fresh memory from the kernel, as a worker's first job; runs 2.. reuse the working memory, as
a worker's later jobs), then gaussian_filter (sigma=1, mirror), threshold_otsu, label (26),
regionprops (area, centroid, weighted centroid, intensity) timed one by one, N times. Also a
memory bandwidth probe (numpy copy of 512 MB) to state the fraction of the bandwidth bound:
the segmentation moves about 50 bytes per voxel (issue #6), so bound = 50 B x voxels / bandwidth.
Prints a Markdown table; medians."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage import filters, measure, morphology
from skimage import segmentation as skseg

BIN = sys.argv[1]
args = sys.argv[2:]
sizes = [64, 256]
runs = 5
for i, a in enumerate(args):
    if a == "--sizes":
        sizes = [int(x) for x in args[i + 1].split(",")]
    if a == "--runs":
        runs = int(args[i + 1])


def bandwidth():
    a = np.ones(64 << 20, dtype=np.float64)
    b = np.empty_like(a)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best  # read + write


def zsa(path, work):
    out = subprocess.run([BIN + "/zsa-analyze", "-q", "-a", "segmentation_3d", "-o", work,
                          "-p", "sigma=1", "--repeat", str(runs), path], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"run (\d+): ([\d.]+) ms (.*)", line)
        if m:
            rows.append((float(m.group(2)), json.loads(m.group(3))))
    summary = json.loads(out.stdout)["summary"]
    return rows, summary


def scipy_pipeline(path):
    raw = tifffile.imread(path)
    times = {"smooth": [], "threshold": [], "label": [], "measure": []}
    for _ in range(runs):
        t = time.perf_counter()
        sm = ndi.gaussian_filter(raw.astype(np.float32), sigma=1, mode="mirror",
                                 truncate=4.0)
        t1 = time.perf_counter()
        thr = filters.threshold_otsu(sm)
        t2 = time.perf_counter()
        lab = measure.label(sm > thr, connectivity=3)
        t3 = time.perf_counter()
        props = measure.regionprops(lab, intensity_image=raw)
        for p in props:
            _ = (p.area, p.centroid, p.weighted_centroid, p.max_intensity, p.mean_intensity)
        t4 = time.perf_counter()
        for k, a, b in (("smooth", t, t1), ("threshold", t1, t2), ("label", t2, t3),
                        ("measure", t3, t4)):
            times[k].append((b - a) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}, len(props)


def split_compare(work, z):
    """The watershed split, zsa vs skimage (distance_transform_edt + h_maxima + watershed)."""
    path = work + "/touching.tif"
    subprocess.run([BIN + "/zsa-synth", "--size", "512x512x%d" % z, "--voxel", "1,1,1",
                    "--radius", "3", "--gap", "-1", path], check=True, capture_output=True)
    out = subprocess.run([BIN + "/zsa-analyze", "-q", "-a", "segmentation_3d", "-o", work, "-p",
                          "sigma=1", "-p", "split=true", "--repeat",
                          str(runs), path], capture_output=True, text=True, check=True)
    ours = [json.loads(re.match(r"run \d+: [\d.]+ ms (.*)", l).group(1))["split"]
            for l in out.stderr.splitlines() if l.startswith("run ")]
    s = json.loads(out.stdout)["summary"]
    raw = tifffile.imread(path)
    sm = ndi.gaussian_filter(raw.astype(np.float32), sigma=1, mode="mirror", truncate=4.0)
    mask = sm > filters.threshold_otsu(sm)
    t = time.perf_counter()
    d = ndi.distance_transform_edt(mask)
    markers = measure.label(morphology.h_maxima(d, 0.1, footprint=np.ones((3, 3, 3))),
                            connectivity=3)
    ws = skseg.watershed(-d, markers, mask=mask, connectivity=3)
    sk = (time.perf_counter() - t) * 1e3
    print("\nsplit of touching pairs (512 x 512 x %d, %d objects before, %d after; skimage %d): "
          "zsa %.0f ms warm, skimage %.0f ms" % (z, s["objects_before_split"], s["object_count"],
                                                 ws.max(), statistics.median(ours[1:]), sk))


def main():
    bw = bandwidth()
    print("memory bandwidth (numpy copy, read + write): %.1f GB/s; threads: %d" %
          (bw / 1e9, len(os.sched_getaffinity(0))))
    for z in sizes:
        with tempfile.TemporaryDirectory() as work:
            path = work + "/stack.tif"
            subprocess.run([BIN + "/zsa-synth", "--size", "512x512x%d" % z, "--voxel", "1,1,1",
                            "--radius", "3,4", path], check=True, capture_output=True)
            rows, summary = zsa(path, work)
            sp, nobj = scipy_pipeline(path)
        nv = 512 * 512 * z
        steps = ["load", "smooth", "threshold", "label", "measure", "write"]
        warm = {k: statistics.median(r[1][k] for r in rows[1:]) for k in steps}
        cold = rows[0][1]
        seg_w = sum(warm[k] for k in ("smooth", "threshold", "label", "measure"))
        seg_c = sum(cold[k] for k in ("smooth", "threshold", "label", "measure"))
        sp_total = sum(sp.values())
        bound = 50.0 * nv / bw * 1e3
        print("\n### 512 x 512 x %d uint16 (%.1f Mvoxel), %d objects (zsa %d)\n" %
              (z, nv / 1e6, nobj, summary["object_count"]))
        print("| step | zsa warm (ms) | zsa cold (ms) | scipy/skimage (ms) |")
        print("|---|---|---|---|")
        for k in steps:
            print("| %s | %.1f | %.1f | %s |" % (k, warm[k], cold[k],
                                                "%.1f" % sp[k] if k in sp else "-"))
        print("| **segmentation** (smooth..measure) | **%.1f** | %.1f | **%.1f** |" %
              (seg_w, seg_c, sp_total))
        print("| end to end (process, incl. load and write) | %.1f | %.1f | - |" %
              (statistics.median(r[0] for r in rows[1:]), rows[0][0]))
        print("\nzsa: %.0f Mvoxel/s warm (%.1fx scipy); bandwidth bound %.1f ms "
              "(50 B/voxel at %.1f GB/s): %.0f%% of it reached" %
              (nv / seg_w / 1e3, sp_total / seg_w, bound, bw / 1e9, 100 * bound / seg_w))
        if z == sizes[0]:
            with tempfile.TemporaryDirectory() as work:
                split_compare(work, z)


main()
