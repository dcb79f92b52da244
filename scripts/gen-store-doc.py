#!/usr/bin/env python3
"""The job hash table (store/jobhash.h) as documentation, and a check of who writes it.

  gen-store-doc.py table
      prints the "Job hash" table of docs/PROTOCOL.md (make docs splices it in with
      scripts/splice-doc.py; make test checks it is current)
  gen-store-doc.py writers
      fails when a Redis script (store/lua/*.lua) or the worker (worker/*.c: the job-hash fields
      its events carry) reads or writes a job-hash field that is not in the table (make test)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = {"ST_JF_STR": "text", "ST_JF_INT": "integer", "ST_JF_NUM": "number",
         "ST_JF_BOOL": "boolean (\"1\")"}


def rows():
    text = open(os.path.join(ROOT, "store/jobhash.h"), encoding="utf-8").read()
    body = text[text.index("#define ST_JOB_HASH(X)"):text.index("enum st_job_field {")]
    body = body.replace("\\\n", " ")
    strs = r'((?:"(?:[^"\\]|\\.)*"\s*)+)'
    out = []
    for m in re.finditer(r'X\((\w+), "(\w+)", (ST_JF_\w+), (true|false),\s*' + strs + r',\s*' + strs
                         + r'\)', body):
        join = lambda s: "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s)).replace('\\"', '"')
        out.append({"name": m.group(2), "type": TYPES[m.group(3)], "public": m.group(4) == "true",
                    "writers": join(m.group(5)), "doc": join(m.group(6))})
    if not out:
        sys.exit("gen-store-doc: no rows found in store/jobhash.h")
    return out


def table():
    lines = ["| field | type | in REST's job JSON | written by | what |", "|---|---|---|---|---|"]
    for r in rows():
        lines.append("| `%s` | %s | %s | %s | %s |" % (
            r["name"], r["type"], "yes" if r["public"] else "no", r["writers"],
            r["doc"].replace("|", "\\|")))
    return "\n".join(lines)


def split_args(s):
    """Top-level comma-separated parts of s."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def lua_fields():
    """(file, field) for every literal field of a job hash in the scripts."""
    found = []
    lua = os.path.join(ROOT, "store/lua")
    for name in sorted(os.listdir(lua)):
        if not name.endswith(".lua"):
            continue
        text = open(os.path.join(lua, name), encoding="utf-8").read()
        keys = []
        m = re.search(r"^--! keys: (.*)$", text, re.M)
        if m:
            keys = m.group(1).split()
        code = "\n".join(l for l in text.split("\n") if not l.startswith("--"))
        for m in re.finditer(r"redis\.call\('(HSET|HMGET|HGET|HDEL|HINCRBY)',", code):
            depth, i = 1, m.end()
            while depth and i < len(code):
                depth += {"(": 1, ")": -1}.get(code[i], 0)
                i += 1
            args = split_args(code[m.end():i - 1])
            key, rest = args[0], args[1:]
            k = re.fullmatch(r"KEYS\[(\d+)\]", key)
            job = (key == "h" or "ARGV" in key or
                   (k is not None and int(k.group(1)) <= len(keys) and
                    keys[int(k.group(1)) - 1] == "job"))
            if not job:
                continue
            if m.group(1) == "HSET":
                rest = rest[0::2]
            elif m.group(1) == "HINCRBY":
                rest = rest[:1]
            for a in rest:
                lit = re.fullmatch(r"'(\w+)'", a)
                if lit:
                    found.append(("store/lua/" + name, lit.group(1)))
    return found


def worker_fields():
    found = []
    for name in sorted(os.listdir(os.path.join(ROOT, "worker"))):
        if not name.endswith(".c"):
            continue
        text = open(os.path.join(ROOT, "worker", name), encoding="utf-8").read()
        for m in re.finditer(r"const char \*(?:fields|vf)\[\] = \{(.*?)\};", text, re.S):
            for a in split_args(m.group(1))[0::2]:
                lit = re.fullmatch(r'"(\w+)"', a)
                if lit:
                    found.append(("worker/" + name, lit.group(1)))
    return found


def writers():
    known = {r["name"] for r in rows()}
    seen = lua_fields() + worker_fields()
    bad = sorted({(f, n) for f, n in seen if n not in known})
    for f, n in bad:
        print("%s: job hash field '%s' is not in store/jobhash.h" % (f, n), file=sys.stderr)
    if bad or len(seen) < 20:
        if not bad:
            print("gen-store-doc: only %d field uses found: the scan is broken" % len(seen),
                  file=sys.stderr)
        return 1
    used = {n for _, n in seen}
    print("check-scripts: %d job-hash field uses (%d fields) are all in store/jobhash.h"
          % (len(seen), len(used)))
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if a == ["table"]:
        print(table())
        sys.exit(0)
    if a == ["writers"]:
        sys.exit(writers())
    sys.exit(__doc__)
