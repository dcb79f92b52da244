"""What the oracles share: the directories they were given, how a check fails, and how
zsa-analyze is run (one job, parameters as JSON, its JSON output parsed)."""
import json
import subprocess
import sys

BIN, WORK = sys.argv[1], sys.argv[2]


def fail(msg):
    print("MISMATCH: " + msg, file=sys.stderr)
    sys.exit(1)


def analyze(algorithm, path, job, **params):
    args = [BIN + "/zsa-analyze", "-q", "-a", algorithm, "-o", WORK, "--job-id", job, path]
    for k, v in params.items():
        args += ["-p", "%s=%s" % (k, json.dumps(v))]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        fail("%s: exit %d: %s %s" % (algorithm, out.returncode, out.stdout, out.stderr))
    return json.loads(out.stdout)
