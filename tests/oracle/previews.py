#!/usr/bin/python3
"""The previews (preview.png) decoded by an independent decoder (Pillow) and redrawn from the data
with numpy by the rules docs/PROTOCOL.md gives: the projection's block means and contrast range,
each object's colour and outline at the right pixels, the histogram's bars.

usage: /usr/bin/python3 tests/oracle/previews.py BIN_DIR WORK_DIR
The helpers both share are in tests/oracle/zsa_run.py.
Prints one line per check; exits 1 with the reason on the first mismatch."""
import colorsys
import subprocess

import numpy as np
import tifffile
from PIL import Image

from zsa_run import BIN, WORK, fail, analyze as run_analyze

MAX, STRIP, PLOT_H, CLIP = 1024, 12, 200, 0.001


def analyze(algorithm, path, job, **params):
    s = run_analyze(algorithm, path, job, **params)["summary"]
    names = [a["name"] for a in s["artifacts"]]
    if "preview.png" not in names or s["preview"]["name"] != "preview.png":
        fail("%s: no preview.png among the artifacts %s" % (job, names))
    return s


def load_png(job, s):
    im = Image.open("%s/%s/preview.png" % (WORK, job))
    if im.format != "PNG" or im.mode != "RGB":
        fail("%s: %s %s, expected an RGB PNG" % (job, im.format, im.mode))
    if im.size != (s["preview"]["width"], s["preview"]["height"]):
        fail("%s: %s pixels, the summary says %s" % (job, im.size, s["preview"]))
    if max(im.size[0], im.size[1] - STRIP) > MAX:
        fail("%s: %s is over %d pixels on its long side" % (job, im.size, MAX))
    return np.asarray(im).astype(np.int64)


def rnd(x):  # C's round(): halves away from zero (the values here are never negative)
    return np.floor(np.asarray(x) + 0.5)


def display(plane):
    """Block means by the smallest integer factor that brings the long side to MAX, and the
    contrast range: the values of rank floor(c(n-1)) and ceil((1-c)(n-1))."""
    ny, nx = plane.shape
    f = -(-max(nx, ny) // MAX)
    h, w = -(-ny // f), -(-nx // f)
    pad = np.full((h * f, w * f), np.nan)
    pad[:ny, :nx] = plane
    red = np.nanmean(pad.reshape(h, f, w, f), axis=(1, 3))
    flat = np.sort(red.ravel())
    lo = flat[int(np.floor(CLIP * (flat.size - 1)))]
    hi = flat[int(np.ceil((1 - CLIP) * (flat.size - 1)))]
    gray = np.clip(rnd(255 * (red - lo) / (hi - lo)), 0, 255) if hi > lo else 0 * red
    return gray, lo, hi, f


def near(got, want, what, exact_share=0.995):
    d = np.abs(got - want)
    if d.max() > 1 or (d == 0).mean() < exact_share:
        i = np.unravel_index(int(np.argmax(d)), d.shape)
        fail("%s: %d pixels differ (max %d, first at %s: %s vs %s)"
             % (what, int((d > 0).sum()), d.max(), i, got[i], want[i]))


def check_display(job, s, gray, lo, hi, f):
    p = s["preview"]
    if p["scale"] != f or abs(p["display_min"] - lo) > 1e-9 * max(1, abs(lo)) or \
            abs(p["display_max"] - hi) > 1e-9 * max(1, abs(hi)):
        fail("%s: scale %s, range %s..%s; numpy: %d, %r..%r"
             % (job, p["scale"], p["display_min"], p["display_max"], f, lo, hi))


def projection(path, job, raw):
    s = analyze("max_projection", path, job)
    png = load_png(job, s)
    plane = raw.astype(np.float64).max(axis=0)
    gray, lo, hi, f = display(plane)
    check_display(job, s, gray, lo, hi, f)
    if png.shape[:2] != gray.shape:
        fail("%s: %s pixels, expected %s" % (job, png.shape[:2], gray.shape))
    if not ((png[..., 0] == png[..., 1]) & (png[..., 1] == png[..., 2])).all():
        fail("%s: a projection preview is gray" % job)
    near(png[..., 0], gray, job + ": projection pixels")
    print("ok %s: %dx%d from %dx%d (scale %d), contrast %g..%g, pixels equal numpy's"
          % (job, png.shape[1], png.shape[0], plane.shape[1], plane.shape[0], f, lo, hi))


def colour(label):
    r, g, b = colorsys.hsv_to_rgb((label * 0.618033988749895) % 1.0, 0.7, 1.0)
    return rnd(np.array([r, g, b]) * 255)


def segmentation(path, job, raw):
    s = analyze("segmentation_3d", path, job, sigma=1.0)
    png = load_png(job, s)
    labels = tifffile.imread("%s/%s/labels.tif" % (WORK, job)).astype(np.int64)
    gray, lo, hi, f = display(raw.astype(np.float64).max(axis=0))
    check_display(job, s, gray, lo, hi, f)
    lab2 = labels.max(axis=0)  # each pixel: the largest label along z, then per block
    h, w = gray.shape
    pad = np.zeros((h * f, w * f), dtype=np.int64)
    pad[:lab2.shape[0], :lab2.shape[1]] = lab2
    lab = pad.reshape(h, f, w, f).max(axis=(1, 3))
    edge = np.zeros(lab.shape, dtype=bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
    edge &= lab != 0
    want = np.repeat(gray[..., None], 3, axis=2)
    table = np.array([colour(k) for k in range(int(lab.max()) + 1)])
    col = table[lab]
    inside = (lab != 0) & ~edge
    want[edge] = col[edge]
    want[inside] = rnd(0.55 * gray[inside][:, None] + 0.45 * col[inside])
    if png.shape != (h + STRIP, w, 3):
        fail("%s: %s, expected %dx%d and a %d-pixel strip" % (job, png.shape, w, h, STRIP))
    near(png[:h], want, job + ": overlay pixels")
    outline = png[:h][edge]
    if len(outline) == 0 or (np.abs(outline - col[edge]).max(axis=1) > 1).any():
        fail("%s: outline pixels missing or of the wrong colour" % job)
    strip = png[h:].reshape(-1, 3)
    white = (strip == 255).all(axis=1)
    dark = (strip == 32).all(axis=1)
    if not (white | dark).all() or white.sum() < 20:
        fail("%s: the caption strip holds no text, or other colours" % job)
    print("ok %s: %d objects, %d outline pixels at numpy's places in their label's colour, "
          "interiors blended, caption drawn" % (job, s["object_count"], int(edge.sum())))


def histogram(path, job, raw, bins):
    s = analyze("intensity_stats", path, job, bins=bins)
    png = load_png(job, s)
    v = raw.astype(np.float64)
    counts, _ = np.histogram(v, bins=bins, range=(v.min(), v.max()))
    g = -(-bins // MAX)
    cols = -(-bins // g)
    col = np.add.reduceat(counts, np.arange(0, bins, g))
    bw = max(1, 512 // cols)
    if png.shape != (PLOT_H + STRIP, cols * bw, 3):
        fail("%s: %s, expected %d columns of %d pixels" % (job, png.shape, cols, bw))
    want = rnd(PLOT_H * np.log1p(col) / np.log1p(col.max()))
    bar = np.array([0x25, 0x63, 0xeb])
    plot = png[:PLOT_H]
    is_bar = (plot == bar).all(axis=2)
    if not (is_bar | (plot == 255).all(axis=2)).all():
        fail("%s: the plot holds colours other than the bars and white" % job)
    got = is_bar.sum(axis=0).reshape(cols, bw)
    if not (got == got[:, :1]).all():
        fail("%s: a bar is not %d pixels wide" % (job, bw))
    near(got[:, 0], want, job + ": bar heights", 1.0)
    print("ok %s: %d bins in %d columns of %d px, bar heights equal numpy's histogram (log)"
          % (job, bins, cols, bw))


def main():
    path = WORK + "/stack.tif"
    subprocess.run([BIN + "/zsa-synth", "--size", "160x120x16", "--radius", "2.5,3.5", path],
                   check=True, capture_output=True)
    raw = tifffile.imread(path)
    wide = WORK + "/wide.tif"
    subprocess.run([BIN + "/zsa-synth", "--size", "2100x64x16", wide], check=True,
                   capture_output=True)
    projection(path, "preview-proj", raw)
    projection(wide, "preview-proj-wide", tifffile.imread(wide))
    segmentation(path, "preview-seg", raw)
    segmentation(wide, "preview-seg-wide", tifffile.imread(wide))
    histogram(path, "preview-hist", raw, 100)
    histogram(path, "preview-hist-grouped", raw, 5000)


main()
