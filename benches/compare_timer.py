#!/usr/bin/env python3
"""Whole-process timer for benches/compare.sh.

usage: compare_timer.py --name NAME --out DIR [-n RUNS] [--warmup W] [--bytes B]
                        [--prep SHELL-CMD] -- SHELL-CMD

Runs SHELL-CMD (with `bash -c`, `set -o pipefail` prepended) W times untimed, then RUNS
times timed. PREP (if given) runs untimed before every run, warm-ups included (e.g. to
remove the previous run's output file). For each timed run it records the wall time
(monotonic clock around fork..reap) and the rusage of the reaped shell from wait4(2):
user and sys CPU, and peak RSS -- which on Linux is the largest single process among the
shell and everything it waited for (for `gen | tool > /dev/null` that is the tool).

Writes DIR/NAME.json (all runs + medians) and DIR/NAME.log (the command's stderr).
Any non-zero exit status (of PREP or of any run) is an error: the timer prints the log's
tail and exits 1, so a broken tool can never produce a figure.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--bytes", type=int, default=0, help="payload size, for throughput")
    ap.add_argument("--prep", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    cmd = " ".join(cmd)
    os.makedirs(a.out, exist_ok=True)
    logpath = os.path.join(a.out, a.name + ".log")
    rsspath = os.path.join(a.out, a.name + ".rss")
    runs = []
    with open(logpath, "w") as log:
        for i in range(a.warmup + a.n):
            if a.prep:
                subprocess.run(["bash", "-c", "set -eo pipefail; " + a.prep], check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            log.write("--- run %d%s\n" % (i, " (warm-up)" if i < a.warmup else ""))
            log.flush()
            t0 = time.monotonic()
            # GNU time only for the peak RSS: a child forked from this (Python) process would
            # inherit Python's RSS high-water mark as a ~15 MiB floor; under /usr/bin/time the
            # floor is bash's own few MiB (see the base.true figure).
            p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rsspath,
                                  "bash", "-c", "set -o pipefail; " + cmd],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=log, start_new_session=True)
            _, status, ru = os.wait4(p.pid, 0)
            t1 = time.monotonic()
            code = os.waitstatus_to_exitcode(status)
            p.returncode = code
            if code != 0:
                log.flush()
                tail = open(logpath, errors="replace").read()[-2000:]
                sys.stderr.write("compare_timer: %s: exit status %d\n  command: %s\n%s\n"
                                 % (a.name, code, cmd, tail))
                return 1
            if i < a.warmup:
                continue
            rss_kib = int(open(rsspath).read().split()[-1])
            runs.append({"wall": t1 - t0, "user": ru.ru_utime, "sys": ru.ru_stime,
                         "cpu": ru.ru_utime + ru.ru_stime, "rss_mib": rss_kib / 1024.0})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res = {"name": a.name, "cmd": cmd, "prep": a.prep, "bytes": a.bytes, "n": len(runs),
           "warmup": a.warmup, "runs": runs, "median": med,
           "wall_min": min(r["wall"] for r in runs), "wall_max": max(r["wall"] for r in runs)}
    os.unlink(rsspath)
    with open(os.path.join(a.out, a.name + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    line = "  %-28s median %8.3f s wall (%.3f-%.3f), %7.3f s cpu, %7.1f MiB peak" % (
        a.name, med["wall"], res["wall_min"], res["wall_max"], med["cpu"], med["rss_mib"])
    if a.bytes:
        line += ", %6.3f GB/s" % (a.bytes / med["wall"] / 1e9)
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
