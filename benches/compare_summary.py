#!/usr/bin/env python3
"""Markdown summary of a benches/compare.sh run.

usage: compare_summary.py RESULTS_DIR

Reads RESULTS_DIR/meta.txt (tab-separated key/value lines) and the NAME.json files written
by compare_timer.py, and prints the machine description and one markdown table of medians.
Throughput ratios are "A / B throughput" = B's median wall time / A's median wall time
(> 1 means A is faster); KDF ratios are time ratios, as labelled.
"""
import json
import os
import sys

R = sys.argv[1] if len(sys.argv) > 1 else "."
MIB = 1 << 20


def load_meta():
    meta = {}
    path = os.path.join(R, "meta.txt")
    if os.path.exists(path):
        for line in open(path):
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def t(name):
    path = os.path.join(R, name + ".json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))


def wall(x):
    return x["median"]["wall"]


def gbs(x, minus=0.0):
    w = wall(x) - minus
    return x["bytes"] / w / 1e9 if x["bytes"] and w > 0 else None


def cpu_per_gib(x):
    """User + sys CPU seconds of the whole command per GiB of payload."""
    return x["median"]["cpu"] / (x["bytes"] / (1 << 30))


def f(v, nd=3, suffix=""):
    return "n/a" if v is None else ("%." + str(nd) + "f%s") % (v, suffix)


def main():
    m = load_meta()
    big, huge = m.get("big_label", "?"), m.get("huge_label", "?")
    n = m.get("n", "?")
    rows = []

    def row(num, what, x=None, rate=None, note="", show_rss=True):
        if x is None:
            rows.append("| %s | %s |  |  |  |  | %s |" % (num, what, note))
            return
        rng = "%.3f (%.3f-%.3f)" % (wall(x), x["wall_min"], x["wall_max"])
        rss = f(x["median"]["rss_mib"], 1) if show_rss else ""
        if rate is None:
            rate = gbs(x)
        cpu = f(cpu_per_gib(x)) if x["bytes"] and rate != 0 else ""
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            num, what, rng, f(rate) if rate else "", cpu, rss, note))

    def ratio(a, b):  # throughput of a relative to b
        return wall(b) / wall(a) if a and b else None

    # --- 1: big file to /dev/null
    tools = [("coffer", "coffer (default threads)"), ("coffer-T1", "coffer -T 1"),
             ("coffer-aesgcm", "coffer pure-Rust build (aes-gcm backend)"),
             ("coffer-aesgcm-T1", "coffer pure-Rust build -T 1"),
             ("coffer-native", "coffer built with target-cpu=native (opt-in)"),
             ("age", "age (X25519 recipient)"), ("rage", "rage (X25519 recipient)"),
             ("gpg", "gpg --symmetric AES256, --compress-algo none")]
    for op, opname in (("enc", "encrypt"), ("dec", "decrypt")):
        for key, label in tools:
            x = t("%s.%s" % (key, op))
            if not x:
                continue
            e0 = t("%s.empty.%s" % (key, op))
            note = "empty file %s s" % f(wall(e0)) if e0 else ""
            if e0:
                note += "; %s GB/s without it" % f(gbs(x, wall(e0)))
            row("1", "%s %s -> /dev/null: %s" % (opname, big, label), x, note=note)
    c_e, c_d = t("coffer.enc"), t("coffer.dec")

    def net_ratio(a, b, op):  # as ratio(), each tool's empty-file run (start-up, KDF) subtracted
        a0, b0 = t("%s.empty.%s" % (a, op)), t("%s.empty.%s" % (b, op))
        x, y = t("%s.%s" % (a, op)), t("%s.%s" % (b, op))
        if not (x and y and a0 and b0) or wall(x) <= wall(a0):
            return None
        return (wall(y) - wall(b0)) / (wall(x) - wall(a0))

    for a, b, label in (("coffer-T1", "coffer-aesgcm-T1", "-T 1"), ("coffer", "coffer-aesgcm", "default threads")):
        for op, opname in (("enc", "encrypt"), ("dec", "decrypt")):
            x, y = t("%s.%s" % (a, op)), t("%s.%s" % (b, op))
            if x and y:
                row("1", "**aws-lc-rs / aes-gcm backend %s, %s**" % (opname, label),
                    note="**%s x** throughput whole process; %s x subtracted; aes-gcm takes %s x the CPU per GiB" % (
                        f(ratio(x, y), 2), f(net_ratio(a, b, op), 2),
                        f(cpu_per_gib(y) / cpu_per_gib(x), 2)))
    for build, bname in (("coffer", "coffer"), ("coffer-aesgcm", "coffer pure-Rust build"),
                         ("coffer-native", "coffer native build")):
        for peer in ("age", "rage", "gpg"):
            for op, opname in (("enc", "encrypt"), ("dec", "decrypt")):
                c, p = t("%s.%s" % (build, op)), t("%s.%s" % (peer, op))
                if c and p:
                    row("1", "**%s / %s %s throughput**" % (bname, peer, opname),
                        note="**%s x** whole process; %s x with each one's empty-file cost subtracted" % (
                            f(ratio(c, p), 2), f(net_ratio(build, peer, op), 2)))
    if c_e and c_d:
        row("1", "**coffer decrypt / encrypt throughput**", note="**%s x**" % f(ratio(c_d, c_e), 2))
    n_e, n_d = t("coffer-native.enc"), t("coffer-native.dec")
    if n_e and n_d:
        row("1", "coffer native build decrypt / encrypt throughput", note="%s x" % f(ratio(n_d, n_e), 2))
    if c_e and n_e:
        row("1", "coffer native / portable build encrypt throughput", note="%s x" % f(ratio(n_e, c_e), 2))
    if c_d and n_d:
        row("1", "coffer native / portable build decrypt throughput", note="%s x" % f(ratio(n_d, c_d), 2))
    t1e, t1d = t("coffer-T1.enc"), t("coffer-T1.dec")
    if c_e and t1e:
        row("1", "coffer default threads / -T 1 encrypt throughput", note="%s x (%s cores)" % (
            f(ratio(c_e, t1e), 2), m.get("nproc", "?")))
    if c_d and t1d:
        row("1", "coffer default threads / -T 1 decrypt throughput", note="%s x" % f(ratio(c_d, t1d), 2))
    pair, e1, e0 = t("coffer-T1.pair.enc"), t("coffer-T1.empty.enc"), t("coffer.empty.enc")
    if pair and t1e and e1 and e0 and c_e:
        # Fixed cost (start-up, floor KDF) subtracted everywhere; the two processes of the
        # pair pay theirs at the same time.
        machine = 2 * (wall(t1e) - wall(e1)) / (wall(pair) - wall(e1))
        pipeline = (wall(t1e) - wall(e1)) / (wall(c_e) - wall(e0))
        row("1", "two `coffer -T 1` encrypts at once (each the whole %s)" % big, pair,
            note="what two busy cores give here: **%s x** one process alone (linear: 2.00 x); "
                 "the pipeline's default threads / -T 1: **%s x** (empty-file costs subtracted)" % (
                     f(machine, 2), f(pipeline, 2)))

    # --- 2: file to file
    fc, fd, cat, dd = t("file.coffer"), t("file.coffer.dec"), t("file.cat"), t("file.dd")
    if fc:
        row("2", "`coffer encrypt -f -o out` %s file -> new file" % big, fc)
    if fd:
        row("2", "`coffer decrypt -f -o out` %s ciphertext -> new file" % big, fd)
    if cat:
        row("2", "`cat big > copy` %s file -> new file" % big, cat)
    if dd:
        row("2", "`dd bs=1M` %s file -> new file" % big, dd)
    for x, op, opname in ((fc, "enc", "encrypt"), (fd, "dec", "decrypt")):
        if x and dd:
            row("2", "**coffer %s / dd bs=1M file-to-file throughput**" % opname,
                note="**%s x**" % f(ratio(x, dd), 2))
        if x and cat:
            e0 = t("coffer.empty." + op)
            net = (wall(cat) / (wall(x) - wall(e0))) if e0 and wall(x) > wall(e0) else None
            row("2", "**coffer %s / cat file-to-file throughput**" % opname,
                note="**%s x** (coffer takes %s x cat's time); %s x with coffer's empty-file cost subtracted" % (
                    f(ratio(x, cat), 2), f(wall(x) / wall(cat), 2), f(net, 2)))
        if x and dd:
            row("2", "**coffer %s / dd bs=1M file-to-file throughput**" % opname,
                note="**%s x**" % f(ratio(x, dd), 2))

    # --- 3: single-thread throughput
    if t1e:
        e0 = t("coffer-T1.empty.enc")
        net = gbs(t1e, wall(e0)) if e0 else None
        row("3", "coffer -T 1 encrypt %s -> /dev/null" % big, t1e, note=(
            "%s GB/s = %s GiB/s whole process; %s GB/s = %s GiB/s without the empty-file cost "
            "(compare with criterion's raw AES-GCM figure)" % (
                f(gbs(t1e)), f(t1e["bytes"] / wall(t1e) / (1 << 30)),
                f(net), f(net * 1e9 / (1 << 30) if net else None))))

    # --- 4: peak RSS (an X25519 recipient: no KDF; the empty-file run is the floor)
    base = t("coffer.empty.enc")
    for key, label, src in (("1m", "1 MiB file", "rss.1m"), ("big", "%s file" % big, "coffer"),
                            ("huge", "%s piped from a generator" % huge, "rss.huge")):
        for op, opname in (("enc", "encrypt"), ("dec", "decrypt")):
            x = t("%s.%s" % (src, op))
            if not x:
                continue
            what = "peak RSS, coffer %s, %s" % (opname, label)
            if key == "huge" and op == "dec":
                what = "peak RSS, coffer decrypt, %s ciphertext piped in (`cat ct |`)" % huge
            note = ("**%s MiB** over the empty-file run (%s MiB)" % (
                f(x["median"]["rss_mib"] - base["median"]["rss_mib"], 1),
                f(base["median"]["rss_mib"], 1)) if base else "")
            row("4", what, x, rate=0 if key == "1m" else None, note=note)

    # --- 5: small files
    sc, kd = t("small.coffer.enc"), t("kdf.coffer.default")
    count = int(m.get("small_count", "0") or 0)
    if sc:
        note = "%s ms/file" % f(wall(sc) / count * 1000, 3)
        if kd:
            note += "; %s ms/file without one default-KDF empty-file run (%s s)" % (
                f((wall(sc) - wall(kd)) / count * 1000, 3), f(wall(kd)))
        row("5", "`coffer encrypt -r` %d x 4 KiB, default KDF, one invocation" % count, sc, rate=0, note=note)
    sa, base = t("small.age.enc"), t("small.expect.base")
    if sa:
        k = int(m.get("age_small", "1"))
        per = wall(sa) / k
        scaled = per * count
        note = "%s s/file; scaled to %d files: **%s s**" % (f(per), count, f(scaled, 1))
        if base:
            note += " (expect/pty overhead %s s/file included)" % f(wall(base))
        row("5", "`age -p` (scrypt, via expect) %d x 4 KiB, one process per file, 1 run" % k, sa, rate=0, note=note)
        if sc:
            row("5", "**coffer -r / age -p small-file throughput (age scaled)**",
                note="**%s x**" % f(scaled / wall(sc), 1))

    # --- 6: KDF
    cdf, cfl, adf, afl = (t("kdf." + s) for s in ("coffer.default", "coffer.floor", "argon2.default", "argon2.floor"))
    kp = m.get("kdf_params", "? ? ?").split()
    if cdf:
        row("6", "coffer encrypt empty file, KDF m=%s MiB t=%s p=%s (%s)" % (kp[0], kp[1], kp[2], m.get("kdf_source", "?")), cdf)
    if cfl:
        row("6", "coffer encrypt empty file, floor KDF m=19 MiB t=2 p=1", cfl)
    if adf:
        row("6", "argon2 CLI (Debian) -id m=%s MiB t=%s p=%s" % tuple(kp), adf)
    if afl:
        row("6", "argon2 CLI (Debian) -id m=19 MiB t=2 p=1", afl)
    if cdf and cfl and adf and afl:
        dc, da = wall(cdf) - wall(cfl), wall(adf) - wall(afl)
        row("6", "**coffer / argon2 CLI KDF time** (default minus floor, each)",
            note="**%s x** (coffer %s s vs argon2 %s s; argon2 CLI alone at default: %s s)" % (
                f(dc / da, 2) if da > 0 else "n/a", f(dc), f(da), f(wall(adf))))

    print("## coffer vs age / rage / gpg (%s)" % ("QUICK smoke run" if m.get("quick") == "1" else "full run"))
    print()
    print("- machine: %s x %s, %s, %s RAM, %s; scratch fs %s" % (
        m.get("nproc", "?"), m.get("cpu", "?"), m.get("kernel", "?"), m.get("memory", "?"),
        m.get("os", "?"), m.get("fs", "?")))
    vers = [m[k] for k in ("v_coffer", "v_coffer_pure", "v_coffer_native", "v_age", "v_rage", "v_gpg") if k in m]
    if vers:
        print("- versions: " + "; ".join(vers))
    print("- %s runs per figure after 1 warm-up (empty-file and KDF figures: %s), medians; wall time "
          "of the whole process; random input in the page cache; coffer with an X25519 recipient, as age (the KDF figure: "
          "a passphrase at the 19 MiB / 2 pass floor); GB/s = 10^9 B/s; CPU s/GiB = user + sys of the whole command per GiB; peak RSS = ru_maxrss of the largest process in the command" % (
              n, int(n) + 2 if n.isdigit() else "?"))
    bt = t("base.true")
    if bt:
        print("- harness floor (`true` under the same timer): %s s wall, %s MiB peak RSS" % (
            f(wall(bt)), f(bt["median"]["rss_mib"], 1)))
    rt = [k[3:] for k in m if k.startswith("rt_")]
    if rt:
        print("- round trips checked with cmp: " + ", ".join(rt))
    if "page_cache" in m:
        print("- page cache: " + m["page_cache"])
    print()
    print("| # | measurement | median wall s (min-max) | GB/s | CPU s/GiB | peak RSS MiB | ratio / note |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
