#!/usr/bin/env python3
"""Splices a command's output into a Markdown file between
<!-- BEGIN GENERATED: NAME (make docs) --> and <!-- END GENERATED: NAME -->.
With --check, fails when the file is out of date instead (make test).
usage: splice-doc.py [--check] NAME FILE COMMAND..."""
import subprocess
import sys

args = sys.argv[1:]
check = args[:1] == ["--check"]
if check:
    args = args[1:]
if len(args) < 3:
    sys.exit(__doc__)
name, path, cmd = args[0], args[1], args[2:]
begin, end = "<!-- BEGIN GENERATED: %s (make docs) -->" % name, "<!-- END GENERATED: %s -->" % name
text = open(path, encoding="utf-8").read()
if begin not in text or end not in text:
    sys.exit("splice-doc: %s lacks the markers %s / %s" % (path, begin, end))
gen = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
a, b = text.index(begin) + len(begin), text.index(end)
new = text[:a] + "\n" + gen.rstrip("\n") + "\n" + text[b:]
if check:
    if new != text:
        sys.exit("docs: the %s in %s is out of date; run 'make docs' and commit it" % (name, path))
    print("docs: the %s in %s is current" % (name, path))
else:
    open(path, "w", encoding="utf-8").write(new)
    print("docs: regenerated the %s in %s" % (name, path))
