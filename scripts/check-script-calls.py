#!/usr/bin/env python3
"""Checks every script call site against the script's declaration (make check-scripts).

A call site is `st_call_init(&c, ST_SCRIPT_X)` (a whole call) or `st_call_init_item(&c,
ST_SCRIPT_X, 'v')` (one item of a batch) and the statements after it up to the next such start
or the end of the function. Every slot index it names (ST_X_K_..., ST_X_A_..., ST_X_IK_...,
ST_X_V_IA_...) must be one of X's, and a whole call must name every fixed key and argument X
declares (a slot that is only set on some paths still counts: st_call_check refuses the rest at
run time). So a call of one script cannot fill another's slots, and a declaration that gains a
slot fails here until every caller sets it.

usage: check-script-calls.py GEN_HEADER SOURCE_DIR...
"""
import os
import re
import sys

ENUM = re.compile(r"enum \{ ([^}]*) \};")
START = re.compile(r"st_call_init(_item)?\(&\w+, ST_SCRIPT_(\w+)")
SLOT = re.compile(r"\bST_([A-Z0-9_]+?)_(?:([A-Z])_)?(K|A|IK|IA)_([A-Z0-9_]+)\b")


def declarations(header):
    """{SCRIPT: {"fixed": set of K_/A_ names, "all": set of every slot name}}"""
    text = open(header, encoding="utf-8").read()
    names = re.findall(r'X\((\w+), "', text)
    decl = {n: {"fixed": set(), "all": set()} for n in names}
    for m in ENUM.finditer(text):
        for e in m.group(1).split(", "):
            e = e.split(" = ")[0]
            for n in sorted(names, key=len, reverse=True):
                if e.startswith("ST_%s_" % n):
                    rest = e[len(n) + 4:]
                    if rest.startswith("N") or "ITEM_N" in rest:
                        break  # a count
                    decl[n]["all"].add(e)
                    if re.match(r"(K|A)_", rest):
                        decl[n]["fixed"].add(e)
                    break
    return decl


def sites(path):
    text = open(path, encoding="utf-8").read()
    starts = list(START.finditer(text))
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        fn_end = text.find("\n}\n", m.end())
        if fn_end != -1:
            end = min(end, fn_end)
        line = text.count("\n", 0, m.start()) + 1
        yield line, m.group(2), bool(m.group(1)), text[m.end():end]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    decl = declarations(sys.argv[1])
    bad, n = [], 0
    for root in sys.argv[2:]:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if not f.endswith(".c"):
                    continue
                path = os.path.join(dirpath, f)
                for line, script, item, body in sites(path):
                    n += 1
                    where = "%s:%d: %s" % (path, line, script.lower())
                    if script not in decl:
                        bad.append("%s: no such script" % where)
                        continue
                    used = set(m.group(0) for m in re.finditer(r"\bST_[A-Z0-9_]+\b", body)
                               if SLOT.match(m.group(0)) and not m.group(0).startswith("ST_SCRIPT_"))
                    for u in sorted(used):
                        if u not in decl[script]["all"] and u.startswith("ST_%s_" % script):
                            bad.append("%s: %s is not one of its slots" % (where, u))
                        elif u not in decl[script]["all"]:
                            owner = [s for s in decl if u in decl[s]["all"]]
                            if owner:
                                bad.append("%s: %s is %s's slot" % (where, u, owner[0].lower()))
                    if not item:
                        for missing in sorted(decl[script]["fixed"] - used):
                            bad.append("%s: %s is never set" % (where, missing))
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print("check-scripts: %d problem(s) in %d call sites" % (len(bad), n), file=sys.stderr)
        return 1
    print("check-scripts: %d script call sites match their declarations" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
