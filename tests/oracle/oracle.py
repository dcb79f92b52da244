#!/usr/bin/python3
"""The analysis engine against an independent oracle: scipy, scikit-image, numpy and tifffile
run the same steps on the same file with the same parameters, and every figure zsa-analyze
reports is compared with theirs.

usage: /usr/bin/python3 tests/oracle/oracle.py BIN_DIR WORK_DIR
The helpers both share are in tests/oracle/zsa_run.py.
Prints one line per check; exits 1 with the reason on the first mismatch."""
import subprocess

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage import filters, measure, morphology
from skimage import segmentation as skseg

from zsa_run import BIN, WORK, fail, analyze


def artifact(s, job, name):
    """The path of one of a summary's artifacts (the summary lists names, never paths)."""
    if name not in [a["name"] for a in s["artifacts"]]:
        fail("%s: %s is not among the artifacts %s" % (job, name, s["artifacts"]))
    return "%s/%s/%s" % (WORK, job, name)


def read_csv(path):
    with open(path) as f:
        head = f.readline().strip().split(",")
        rows = [list(map(float, line.split(","))) for line in f if line.strip()]
    return {h: np.array([r[i] for r in rows]) for i, h in enumerate(head)}


def close(a, b, rel, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    err = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    bad = ~((a == b) | (err <= rel))
    if bad.any():
        i = int(np.argmax(bad))
        fail("%s: %d values differ by more than %g relative (first: %r vs %r)"
             % (what, int(bad.sum()), rel, a.flat[i], b.flat[i]))


def segmentation(path, raw, voxel, sigma, connectivity, job):
    res = analyze("segmentation_3d", path, job, sigma=sigma, connectivity=connectivity)
    s = res["summary"]
    img = raw.astype(np.float32)
    integer = sigma == 0
    if not integer:  # sigma in physical units, scipy's in voxels along (z, y, x)
        img = ndi.gaussian_filter(img, sigma=[sigma / voxel[2], sigma / voxel[1], sigma / voxel[0]],
                                  mode="mirror", truncate=4.0)
        thr = filters.threshold_otsu(img)
        bin_width = (float(img.max()) - float(img.min())) / 256
    else:
        thr = filters.threshold_otsu(raw)
        bin_width = 1.0
    if abs(s["threshold"] - thr) > bin_width * 1.000001:
        fail("%s: threshold %r, skimage %r (bin %g)" % (job, s["threshold"], thr, bin_width))
    labels = measure.label(img > thr if not integer else raw > thr,
                           connectivity=3 if connectivity == 26 else 1)
    ours = tifffile.imread(artifact(s, job, "labels.tif")).astype(np.int64)
    if ours.shape != labels.shape:
        fail("%s: label volume %s, expected %s" % (job, ours.shape, labels.shape))
    # the same partition: a one-to-one map between label sets over every voxel
    pairs = np.unique(np.stack([ours.ravel(), labels.ravel()]), axis=1)
    if (len(np.unique(pairs[0])) != pairs.shape[1] or len(np.unique(pairs[1])) != pairs.shape[1]):
        fail("%s: the partitions differ (%d label pairs, %d and %d labels)"
             % (job, pairs.shape[1], ours.max(), labels.max()))
    if not (ours == labels).all():
        fail("%s: same partition, different numbering" % job)
    props = measure.regionprops(labels, intensity_image=raw.astype(np.float64))
    t = read_csv(artifact(s, job, "objects.csv"))
    if len(props) != len(t["label"]) or s["object_count"] != len(props):
        fail("%s: %d objects, skimage %d" % (job, len(t["label"]), len(props)))
    close(t["voxels"], [p.area for p in props], 0, job + ": volumes (voxels)")
    for ax, i in (("x", 2), ("y", 1), ("z", 0)):
        close(t["centroid_" + ax], [p.centroid[i] for p in props], 1e-6, job + ": centroid " + ax)
        close(t["weighted_" + ax], [p.weighted_centroid[i] for p in props], 1e-6,
              job + ": weighted centroid " + ax)
    close(t["sum"], [p.intensity_image[p.image].sum() for p in props], 1e-9, job + ": sums")
    close(t["max"], [p.max_intensity for p in props], 0, job + ": max intensity")
    print("ok %s: threshold %.4f (skimage %.4f), %d objects, labels identical, volumes equal, "
          "centroids within 1e-6" % (job, s["threshold"], thr, len(props)))


def split(work):
    """Touching spheres: our watershed split against skimage's h_maxima markers + watershed on
    the same mask and distance map (the same definition; ties may go either way)."""
    path = work + "/touching.tif"
    subprocess.run([BIN + "/zsa-synth", "--size", "96x80x48", "--voxel", "0.5,0.5,0.5", "--sigma",
                    "1,1,1", "--gap", "-1", path], check=True, capture_output=True)
    raw = tifffile.imread(path)
    s = analyze("segmentation_3d", path, "split", sigma=0.5, split=True, split_depth=0.1)["summary"]
    sm = ndi.gaussian_filter(raw.astype(np.float32), sigma=1, mode="mirror", truncate=4.0)
    mask = sm > filters.threshold_otsu(sm)
    d = ndi.distance_transform_edt(mask, sampling=0.5)
    markers = measure.label(morphology.h_maxima(d, 0.1, footprint=np.ones((3, 3, 3))),
                            connectivity=3)
    ws = skseg.watershed(-d, markers, mask=mask, connectivity=3)
    ours = tifffile.imread(artifact(s, "split", "labels.tif")).astype(np.int64)
    if s["object_count"] != ws.max() or s["objects_before_split"] >= ws.max():
        fail("split: %d objects (%d before), skimage %d" % (s["object_count"],
                                                             s["objects_before_split"], ws.max()))
    pairs, counts = np.unique(np.stack([ours[mask], ws[mask]]), axis=1, return_counts=True)
    best = {}
    for (a, _), c in zip(pairs.T, counts):
        best[a] = max(best.get(a, 0), c)
    agree = sum(best.values()) / mask.sum()
    if agree < 0.995:
        fail("split: %.4f of the voxels agree with skimage's watershed" % agree)
    print("ok split: %d objects from %d (skimage h_maxima + watershed: %d), %.2f%% of voxels "
          "agree" % (s["object_count"], s["objects_before_split"], ws.max(), 100 * agree))


def li(path, raw):
    s = analyze("segmentation_3d", path, "li", sigma=0, threshold="li")["summary"]
    want = filters.threshold_li(raw)
    if abs(s["threshold"] - want) > 1:
        fail("li: threshold %r, skimage %r" % (s["threshold"], want))
    print("ok li: threshold %.3f (skimage %.3f)" % (s["threshold"], want))


def projections(path, raw):
    funcs = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum, "std": np.std}
    for method, f in funcs.items():
        for axis, npaxis in (("z", 0), ("y", 1), ("x", 2)):
            job = "proj-%s-%s" % (method, axis)
            s = analyze("max_projection", path, job, method=method, axis=axis)["summary"]
            ours = tifffile.imread(artifact(s, job, "projection.tif")).astype(np.float64)
            want = f(raw.astype(np.float64), axis=npaxis)
            if ours.shape != want.shape:
                fail("%s: shape %s, numpy %s" % (job, ours.shape, want.shape))
            close(ours, want.astype(np.float32) if method in ("mean", "sum", "std") else want,
                  1e-6 if method in ("mean", "sum", "std") else 0, job)
    print("ok max_projection: max, min, mean, sum, std along z, y, x equal numpy's")


def stats(path, raw):
    s = analyze("intensity_stats", path, "stats", bins=100,
                percentiles=[0, 1, 12.5, 50, 99.9, 100])["summary"]
    v = raw.astype(np.float64)
    close([s["min"], s["max"]], [v.min(), v.max()], 0, "stats: range")
    close([s["mean"], s["std"]], [v.mean(), v.std()], 1e-9, "stats: mean, std")
    for q in (0, 1, 12.5, 50, 99.9, 100):
        close(s["percentiles"]["p%g" % q], np.percentile(v, q), 1e-12, "stats: percentile %g" % q)
    counts, _ = np.histogram(v, bins=100, range=(v.min(), v.max()))
    close(s["histogram"]["counts"], counts, 0, "stats: histogram")
    close(s["per_slice"]["mean"], v.mean(axis=(1, 2)), 1e-9, "stats: slice means")
    lap = (v[:, :-2, 1:-1] + v[:, 2:, 1:-1] + v[:, 1:-1, :-2] + v[:, 1:-1, 2:] - 4 * v[:, 1:-1, 1:-1])
    focus = lap.reshape(lap.shape[0], -1).var(axis=1)
    close(s["per_slice"]["focus"], focus, 1e-6, "stats: focus")
    if s["best_focus_slice"] != int(np.argmax(focus)):
        fail("stats: best focus slice %d, numpy %d" % (s["best_focus_slice"], np.argmax(focus)))
    print("ok intensity_stats: range, mean, std, percentiles, histogram, per-slice focus")


def main():
    path = WORK + "/stack.tif"
    subprocess.run([BIN + "/zsa-synth", "--size", "128x112x24", "--radius", "2.5,3.5", path],
                   check=True, capture_output=True)
    raw = tifffile.imread(path)
    with tifffile.TiffFile(path) as tf:
        xres = tf.pages[0].tags["XResolution"].value
    voxel = (xres[1] / xres[0], xres[1] / xres[0], 1.0)  # zsa-synth: 0.5 x 0.5 x 1 (spacing=1)
    segmentation(path, raw, voxel, 1.0, 26, "seg-float-26")
    segmentation(path, raw, voxel, 0, 6, "seg-int-6")
    li(path, raw)
    projections(path, raw)
    stats(path, raw)
    split(WORK)


main()
