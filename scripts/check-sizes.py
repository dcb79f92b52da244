#!/usr/bin/env python3
"""Keeps the code in pieces a reader can hold (make check-layers runs it).

Fails when, outside tests/ and bench/:
  - a function body is longer than 100 lines and the comment above it does not say why
    ("Long: <reason>"), or
  - a .c file is longer than 700 lines (analysis/ kernels excepted: a numeric kernel reads best
    whole).
usage: scripts/check-sizes.py [ROOT]
"""
import os
import re
import subprocess
import sys

FUNC_MAX, FILE_MAX = 100, 700
EXEMPT_FILE_DIRS = ("analysis/",)
FUNC_START = re.compile(r"^(?:static\s+)?(?:inline\s+)?[A-Za-z_][\w \*]*?\b(\w+)\(")


def strip(line):
    line = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', line)
    return re.sub(r"/\*.*?\*/|//.*$", "", line)


def functions(lines):
    """(name, first line, body lines, the comment above) of each top-level function."""
    depth, i = 0, 0
    while i < len(lines):
        line = lines[i]
        m = FUNC_START.match(line) if depth == 0 else None
        if m and not line.rstrip().endswith(";"):
            # the signature may span lines up to the opening brace
            j = i
            while j < len(lines) and "{" not in strip(lines[j]) and not strip(lines[j]).rstrip().endswith(";"):
                j += 1
            if j < len(lines) and "{" in strip(lines[j]):
                k, d = j, 0
                while k < len(lines):
                    s = strip(lines[k])
                    d += s.count("{") - s.count("}")
                    if d == 0:
                        break
                    k += 1
                c = i - 1
                while c >= 0 and (lines[c].lstrip().startswith(("/*", "*")) or
                                  lines[c].rstrip().endswith("*/")):
                    c -= 1
                yield m.group(1), i + 1, k - j - 1, "\n".join(lines[c + 1:i])
                i = k + 1
                continue
        s = strip(line)
        depth += s.count("{") - s.count("}")
        i += 1


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = subprocess.run(["git", "-C", root, "ls-files", "*.c"], capture_output=True,
                           text=True, check=True).stdout.split()
    files = [f for f in files if not f.startswith(("tests/", "bench/", "web/"))]
    bad = []
    for f in files:
        lines = open(os.path.join(root, f), encoding="utf-8").read().split("\n")
        if len(lines) - 1 > FILE_MAX and not f.startswith(EXEMPT_FILE_DIRS):
            bad.append("%s: %d lines (at most %d outside analysis/ kernels: split it along its "
                       "seams)" % (f, len(lines) - 1, FILE_MAX))
        for name, at, n, comment in functions(lines):
            if n > FUNC_MAX and "Long:" not in comment:
                bad.append("%s:%d: %s() has %d lines (at most %d, or say why in a 'Long:' "
                           "comment above it)" % (f, at, name, n, FUNC_MAX))
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        return 1
    print("check-sizes: %d files, every function under %d lines or saying why, every file under "
          "%d lines" % (len(files), FUNC_MAX, FILE_MAX))
    return 0


if __name__ == "__main__":
    sys.exit(main())
