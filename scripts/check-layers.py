#!/usr/bin/env python3
"""Fails when a project #include crosses a layer the wrong way (make check-layers).

The layers, lowest first (each may include its own headers and those of the layers it names):

  common     the C toolbox: buffers, logging, config, Redis connections, HTTP, WebSocket client
  proto      the message schema and its codecs, access tokens          -> common
  store      the Redis data model: Lua scripts, job control            -> common proto
  analysis   the analysis engine and its algorithms (libzsa-analysis)  -> common proto
  gateway, worker, scheduler: the daemons (never each other)           -> common proto store
             (the worker also -> analysis)
  tools      the CLI and analysis tools (not a daemon's code)          -> common proto store analysis
  tests, bench: anything

Usage: scripts/check-layers.py [ROOT]   (ROOT: the repository, default: the current directory)
Prints each offending include as file:line and exits 1; exits 0 when there is none.
       scripts/check-layers.py --self-test
Copies this repository's sources, checks that the copy passes, then plants wrong-way includes
(common -> gateway, analysis -> worker, a daemon -> another, a tool -> a daemon) one at a time
and checks that each fails, naming the file and line.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ALLOWED = {
    "common": {"common"},
    "proto": {"common", "proto"},
    "store": {"common", "proto", "store"},
    "analysis": {"common", "proto", "analysis"},
    "gateway": {"common", "proto", "store", "gateway"},
    "worker": {"common", "proto", "store", "analysis", "worker"},
    "scheduler": {"common", "proto", "store", "scheduler"},
    "tools": {"common", "proto", "store", "analysis", "tools"},
}
ANY = {"tests", "bench"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = (".c", ".h", ".cu")


def layer_of(include):
    """The layer an include path names ("common/buf.h" -> "common"), or None for a local one."""
    head, sep, _ = include.partition("/")
    return head if sep else None


def check(root):
    bad = []
    for layer in sorted(ALLOWED.keys() | ANY):
        top = os.path.join(root, layer)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "corpus")]
            for name in sorted(filenames):
                if not name.endswith(SOURCES):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or layer in ANY:
                            continue
                        target = layer_of(m.group(1))
                        if target is None:
                            bad.append((path, lineno, m.group(1),
                                        "name the header by its path from the repository root"))
                        elif target not in ALLOWED[layer]:
                            bad.append((path, lineno, m.group(1),
                                        f"{layer} may include only "
                                        + ", ".join(sorted(ALLOWED[layer]))))
    return bad


PLANTS = [
    ("common/buf.h", "gateway/gateway.h"),
    ("analysis/algo.h", "worker/worker.h"),
    ("scheduler/scheduler.c", "gateway/gateway.h"),
    ("tools/zsa_cli.c", "worker/worker.h"),
    ("proto/schema.c", "store/scripts.h"),
]


def self_test():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    failures = 0
    with tempfile.TemporaryDirectory(prefix="zsa-layers-") as tmp:
        for layer in sorted(ALLOWED):
            shutil.copytree(os.path.join(here, layer), os.path.join(tmp, layer),
                            ignore=shutil.ignore_patterns("node_modules", "corpus", "*.html"))
        run = lambda: subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                                     capture_output=True, text=True)
        r = run()
        if r.returncode != 0:
            print(f"self-test: the unchanged copy fails:\n{r.stderr}", file=sys.stderr)
            return 1
        for rel, inc in PLANTS:
            path = os.path.join(tmp, rel)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            lines = original.count("\n")
            with open(path, "a", encoding="utf-8") as f:
                f.write(f'#include "{inc}"\n')
            r = run()
            want = f'{rel}:{lines + 1}: #include "{inc}"'
            if r.returncode != 1 or want not in r.stderr:
                print(f"self-test: planting {inc} in {rel}: exit {r.returncode}, expected 1 and "
                      f"'{want}':\n{r.stderr}", file=sys.stderr)
                failures += 1
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
    if failures:
        return 1
    print(f"check-layers self-test: {len(PLANTS)} planted wrong-way includes refused")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = check(root)
    for path, lineno, inc, why in bad:
        print(f'{os.path.relpath(path, root)}:{lineno}: #include "{inc}": {why}', file=sys.stderr)
    if bad:
        print(f"check-layers: {len(bad)} include(s) cross a layer the wrong way "
              "(the layers are in scripts/check-layers.py and docs/ARCHITECTURE.md)",
              file=sys.stderr)
        return 1
    print("check-layers: every #include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
