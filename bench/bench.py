#!/usr/bin/python3
"""fwdelta benchmark: patch size, time and memory against peer delta tools.

Run through `make bench` / `make bench-scale` (bench/bench.mk); see
bench/README.md for what is measured and how. Exit status: 0 when every patch
was rebuilt byte-exact, 1 when any tool failed or any output differed.
"""
import argparse
import csv
import datetime
import filecmp
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

# fwdelta configurations, one column each: (name, label, extra `diff` flags).
# The first is the default and leads every table; targets are checked on it.
FWDELTA_CONFIGS = [
    ("fwdelta", "fwdelta (default: range coder, codec 2, the default device profile)", []),
    ("fwdelta-small", "fwdelta --profile small --block-size 1024 (the small device profile)",
     ["--profile", "small", "--block-size", "1024"]),
    ("fwdelta-large", "fwdelta --profile large (256 model map entries: hosts, Linux-class devices)",
     ["--profile", "large"]),
    ("fwdelta-zstd", "fwdelta --codec zstd (window-log 12)", ["--codec", "zstd"]),
    # Stored segments of a copy-heavy block can exceed the default payload bound.
    ("fwdelta-stored", "fwdelta --codec stored --max-payload 65536", ["--codec", "stored", "--max-payload", "65536"]),
    ("fwdelta-plain", "fwdelta --model off (no branch/pointer prediction)", ["--model", "off"]),
]

# Peers: (name, label, generate, apply). {old} {new} {patch} {out} are filled in.
# xdelta3 gets -D (and -R): without them it pipes a file that starts like an xz or
# gzip stream through the decompressor (P20 does, and fails); neither flag
# changes the encoding.
PEERS = [
    ("bsdiff", "bsdiff 4.3 (bzip2)",
     ["bsdiff", "{old}", "{new}", "{patch}"],
     ["bspatch", "{old}", "{out}", "{patch}"]),
    ("xdelta3", "xdelta3 -9 -S djw",
     ["xdelta3", "-e", "-f", "-D", "-9", "-S", "djw", "-s", "{old}", "{new}", "{patch}"],
     ["xdelta3", "-d", "-f", "-D", "-R", "-s", "{old}", "{patch}", "{out}"]),
    ("zstd-19", "zstd -19 --long=27 --patch-from",
     ["zstd", "-q", "-f", "-19", "--long=27", "--patch-from={old}", "{new}", "-o", "{patch}"],
     ["zstd", "-q", "-f", "-d", "--long=27", "--patch-from={old}", "{patch}", "-o", "{out}"]),
    ("zstd-22", "zstd --ultra -22 --long=27 --patch-from",
     ["zstd", "-q", "-f", "--ultra", "-22", "--long=27", "--patch-from={old}", "{new}", "-o", "{patch}"],
     ["zstd", "-q", "-f", "-d", "--long=27", "--patch-from={old}", "{patch}", "-o", "{out}"]),
]
PEER_NAMES = [p[0] for p in PEERS]

# Synthetic pairs of the main run: (id, gendata kind, edits, size, seed, description).
SYNTHETIC = [
    ("S01", "code", "minor", "256K", 1, "code-like 256 KiB, minor release"),
    ("S02", "code", "major", "1M", 2, "code-like 1 MiB, major release (relinked block)"),
    ("S03", "random", "minor", "256K", 3, "incompressible 256 KiB, insertion + deletion + byte changes"),
]

# The scale run: tools measured on code-like pairs of these sizes (MiB). bsdiff
# is there as the reference the targets name.
SCALE_TOOLS = ["fwdelta", "bsdiff"]
SCALE_SEED = 1000
# Pathological shapes (gendata: unrelated images, runs of one byte, a repeated
# block, a rotation), fwdelta only: the generator must stay near-linear.
SHAPES = [("unrelated", "two unrelated random images"), ("runs", "runs of one byte up to 1 MiB"),
          ("repeat", "one 4 KiB block repeated, a few bytes changed per copy"),
          ("rotate", "a random image and its rotation by a third")]
SHAPE_TOOLS = ["fwdelta"]
SHAPE_SEED = 2000
# Pairs of this many MiB and more run BENCH_BIG_REPS times (default once):
# bsdiff takes about 25 minutes on one 256 MiB pair.
BIG_MIB = 256
# The speed run's ceiling on back-to-back runs per pair, whatever the time floor.
SPEED_MAX_REPS = 1001

TARGET_GEOMEAN = 0.85      # fwdelta geomean <= this x best peer's
TARGET_PROFILE_DEFAULT = 5.6  # corpus geomean, percent of the new image (issue 13)
TARGET_PROFILE_SMALL = 6.2
TARGET_RSS_PER_BYTE = 6.0  # generator peak RSS per input byte (old + new)
RSS_CHECK_MIN_INPUT = 1 << 20  # below this the process's fixed RSS dominates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GNU_TIME = "/usr/bin/time"


class ToolError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def measure(argv, workdir):
    """Runs argv under GNU time; returns (wall seconds, peak RSS bytes, stdout)."""
    tfile = os.path.join(workdir, "time.out")
    cmd = [GNU_TIME, "-f", "%M", "-o", tfile] + argv
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise ToolError("exit %d: %s\n%s" % (p.returncode, " ".join(argv),
                                              p.stderr.decode(errors="replace").strip()[-2000:]))
    with open(tfile) as f:
        rss_kib = int(f.read().split()[-1])
    return wall, rss_kib * 1024, p.stdout.decode(errors="replace")


class Tool:
    def __init__(self, name, label, gen, app, is_fwdelta):
        self.name, self.label, self.gen, self.app, self.is_fwdelta = name, label, gen, app, is_fwdelta

    def argv(self, tmpl, **kw):
        return [a.format(**kw) for a in tmpl]


def make_tools(fwdelta, key, pub):
    tools = []
    for name, label, flags in FWDELTA_CONFIGS:
        gen = [fwdelta, "diff", "--key", key] + flags + ["--json", "{old}", "{new}", "-o", "{patch}"]
        app = [fwdelta, "apply", "--pubkey", pub, "--json", "{old}", "{patch}", "-o", "{out}"]
        tools.append(Tool(name, label, gen, app, True))
    for name, label, gen, app in PEERS:
        tools.append(Tool(name, label, gen, app, False))
    return tools


class Pair:
    def __init__(self, pid, group, old, new, desc, kind=""):
        self.id, self.group, self.old, self.new, self.desc, self.kind = pid, group, old, new, desc, kind
        self.old_size = os.path.getsize(old)
        self.new_size = os.path.getsize(new)


class Result:
    def __init__(self):
        self.size, self.gen_s, self.gen_rss, self.app_s, self.app_rss = [], [], [], [], []
        self.json = None
        self.error = None
        self.note = None

    def med(self, attr):
        v = getattr(self, attr)
        if not v:
            return None
        # sizes: a value that was measured; times and RSS: the usual median
        return statistics.median_low(v) if attr == "size" else statistics.median(v)


def run_one(tool, pair, workdir, pub, res):
    patch = os.path.join(workdir, "%s.%s.patch" % (pair.id, tool.name))
    out = os.path.join(workdir, "%s.%s.out" % (pair.id, tool.name))
    for f in (patch, out):
        if os.path.exists(f):
            os.remove(f)
    kw = dict(old=pair.old, new=pair.new, patch=patch, out=out)
    wall, rss, stdout = measure(tool.argv(tool.gen, **kw), workdir)
    res.gen_s.append(wall)
    res.gen_rss.append(rss)
    res.size.append(os.path.getsize(patch))
    if tool.is_fwdelta and res.json is None:
        res.json = json.loads(stdout.strip().splitlines()[-1])
    try:
        wall, rss, _ = measure(tool.argv(tool.app, **kw), workdir)
    except ToolError as e:
        # fwdelta's simulated flash has a fixed number of sectors: say so
        # rather than fail, and check what can be checked without it.
        if tool.is_fwdelta and "cannot simulate a flash bank" in str(e):
            subprocess.run([tool.gen[0], "verify", "--pubkey", pub, patch], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            res.note = "not applied: `fwdelta apply` cannot simulate a flash bank this large (signature and hash chain verified)"
            os.remove(patch)
            return
        raise
    res.app_s.append(wall)
    res.app_rss.append(rss)
    if not filecmp.cmp(out, pair.new, shallow=False):
        raise ToolError("MISMATCH: %s rebuilt %s differently from %s (patch kept: %s, output: %s)"
                        % (tool.name, pair.id, pair.new, patch, out))
    os.remove(out)


def run_pairs(pairs, tools, reps, workdir, pub, label, verbose=False):
    """Every tool on every pair, reps times; the tool order rotates with the
    repetition and the pair so that drift in machine load hits all alike."""
    results = {(p.id, t.name): Result() for p in pairs for t in tools}
    for rep in range(reps):
        t0 = time.time()
        for pi, pair in enumerate(pairs):
            k = (rep + pi) % len(tools)
            for tool in tools[k:] + tools[:k]:
                res = results[(pair.id, tool.name)]
                if res.error:
                    continue
                try:
                    run_one(tool, pair, workdir, pub, res)
                    if verbose:
                        log("    %s %s: %d B, %.2f s, %s MiB" % (pair.id, tool.name, res.size[-1], res.gen_s[-1],
                                                             mib(res.gen_rss[-1])))
                except (ToolError, subprocess.CalledProcessError) as e:
                    res.error = str(e)
                    log("  FAIL %s %s: %s" % (pair.id, tool.name, e))
        log("  %s repetition %d/%d done (%.0f s, load %s)" % (label, rep + 1, reps, time.time() - t0, loadavg()))
    for (pid, name), r in results.items():
        if len(set(r.size)) > 1:
            r.note = "patch size varied across repetitions: %s" % sorted(set(r.size))
    return results


def speed_run(pairs, tools, reps, seconds, workdir):
    """fwdelta's default generator and bsdiff, back to back on each pair
    (which goes first alternates), reps times and on until `seconds` have
    passed on the pair: per pair the two medians and the number of runs. The
    main run's repetitions are spread over every tool and pair, and a pair's
    ratio moved by up to 25 % between runs on a shared machine; back to back,
    drift hits both alike. The time floor is for the small pairs: eleven runs
    of 10 ms left a ratio near 1 within ±5 % of itself between runs (P03)."""
    by_name = {t.name: t for t in tools}
    fw, bsd = by_name.get(FWDELTA_CONFIGS[0][0]), by_name.get("bsdiff")
    out = {}
    if not fw or not bsd or reps < 1:
        return out
    t0 = time.time()
    for p in pairs:
        times = {fw.name: [], bsd.name: []}
        start = time.time()
        rep = 0
        try:
            while rep < reps or (time.time() - start < seconds and rep < SPEED_MAX_REPS):
                for t in (fw, bsd) if rep % 2 == 0 else (bsd, fw):
                    patch = os.path.join(workdir, "%s.%s.speed" % (p.id, t.name))
                    if os.path.exists(patch):  # as in run_one: fwdelta refuses to overwrite
                        os.remove(patch)
                    kw = dict(old=p.old, new=p.new, patch=patch, out="")
                    times[t.name].append(measure(t.argv(t.gen, **kw), workdir)[0])
                rep += 1
        except ToolError as e:
            log("  speed %s: %s" % (p.id, str(e).splitlines()[0]))
            continue
        out[p.id] = (statistics.median(times[fw.name]), statistics.median(times[bsd.name]), rep)
    log("  speed: %d pairs x at least %d back-to-back repetitions and %g s (%.0f s, load %s)" % (
        len(out), reps, seconds, time.time() - t0, loadavg()))
    return out


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


# ---- inputs --------------------------------------------------------------

def corpus_pairs(only):
    manifest = os.path.join(ROOT, "corpus", "manifest.tsv")
    skipped = []
    with open(manifest) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    rows = [r for r in rows if not only or r["pair_id"] in only]
    p = subprocess.run([os.path.join(ROOT, "corpus", "locate.sh")], stdout=subprocess.PIPE, text=True)
    cdir = p.stdout.strip()
    if p.returncode != 0 or not cdir:
        log("SKIP: corpus not found (set FWDELTA_CORPUS or place it at ../shared/corpus): %d corpus pairs skipped"
            % len(rows))
        return [], [(r["pair_id"], "corpus not found") for r in rows], None
    pairs = []
    for r in rows:
        old, new = os.path.join(cdir, r["old_path"]), os.path.join(cdir, r["new_path"])
        why = None
        if not (os.path.isfile(old) and os.path.isfile(new)):
            why = "file missing"
        elif sha256_file(old) != r["old_sha256"] or sha256_file(new) != r["new_sha256"]:
            why = "SHA-256 differs from the manifest"
        if why:
            log("SKIP: %s (%s -> %s): %s" % (r["pair_id"], r["old_path"], r["new_path"], why))
            skipped.append((r["pair_id"], why))
            continue
        desc = "%s → %s" % (r["old_path"], os.path.basename(r["new_path"]))
        pairs.append(Pair(r["pair_id"], "corpus", old, new, desc, r["kind"]))
    return pairs, skipped, cdir


def gen_pair(gendata, outdir, pid, kind, edits, size, seed):
    os.makedirs(outdir, exist_ok=True)
    old = os.path.join(outdir, "%s.old.bin" % pid)
    new = os.path.join(outdir, "%s.new.bin" % pid)
    subprocess.run([gendata, kind, edits, size, str(seed), old, new], check=True)
    return old, new


def synthetic_pairs(gendata, workdir, only):
    pairs = []
    for pid, kind, edits, size, seed, desc in SYNTHETIC:
        if only and pid not in only:
            continue
        old, new = gen_pair(gendata, os.path.join(workdir, "synth"), pid, kind, edits, size, seed)
        pairs.append(Pair(pid, "synthetic", old, new, desc, "synthetic-" + edits))
    return pairs


# ---- formatting ------------------------------------------------------------

def pct(x, digits=2):
    return "—" if x is None else ("%.*f %%" % (digits, 100 * x))


def ms(s):
    if s is None:
        return "—"
    v = s * 1000
    return "%.1f" % v if v < 100 else "%.0f" % v


def mib(b):
    return "—" if b is None else "%.1f" % (b / 1048576)


def fmt_ratio(x):
    return "—" if x is None else "%.3f" % x


def tool_versions(fwdelta):
    def dpkg(pkg):
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return p.stdout.strip() or "?"
    fw = subprocess.run([fwdelta, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.strip() or "?"
    fw = fw[len("fwdelta "):] if fw.startswith("fwdelta ") else fw
    return {"fwdelta": "%s, tree %s" % (fw, git), "bsdiff": dpkg("bsdiff"), "xdelta3": dpkg("xdelta3"),
            "zstd": dpkg("zstd"), "time": dpkg("time")}


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s" % (cpu, os.cpu_count() or 0, platform.platform())


def spawn_overhead(workdir, n=20):
    samples = []
    for _ in range(n):
        samples.append(measure(["true"], workdir)[0])
    return statistics.median(samples)


# ---- analysis ----------------------------------------------------------------

def ratio_of(pair, res):
    s = res.med("size")
    return None if (s is None or res.error or not pair.new_size) else s / pair.new_size


def analyse(pairs, tools, results, speed):
    """Per pair: best peer and fwdelta/best, the generator's time against
    bsdiff's (from the speed run); per tool: geometric means."""
    fw = FWDELTA_CONFIGS[0][0]
    per_pair = {}
    for p in pairs:
        peers = [(results[(p.id, n)].med("size"), n) for n in PEER_NAMES
                 if not results[(p.id, n)].error and results[(p.id, n)].size]
        best = min(peers) if peers else (None, None)
        row = {"best_peer": best[1], "best_peer_size": best[0]}
        for name, _, _ in FWDELTA_CONFIGS:
            r = results[(p.id, name)]
            s = r.med("size") if not r.error else None
            row[name] = (s / best[0]) if (s is not None and best[0]) else None
        f = results[(p.id, fw)]
        ft, bt, runs = speed.get(p.id, (None, None, 0))
        row["gen_ms"] = (ft * 1000, bt * 1000) if ft else None
        row["speed_runs"] = runs
        row["faster_than_bsdiff"] = None if not ft else ft <= bt
        row["time_vs_bsdiff"] = None if not ft else ft / bt
        row["rss_per_byte"] = (f.med("gen_rss") / (p.old_size + p.new_size)) if f.gen_rss else None
        per_pair[p.id] = row
    groups = {}
    for gname, sel in (("corpus", [p for p in pairs if p.group == "corpus"]),
                       ("synthetic", [p for p in pairs if p.group == "synthetic"]),
                       ("all", pairs)):
        if not sel:
            continue
        g = {"n": len(sel)}
        for t in tools:
            rs = [results[(p.id, t.name)] for p in sel]
            ok = all(not r.error and r.size for r in rs)
            g[t.name] = {
                "ratio": geomean([ratio_of(p, results[(p.id, t.name)]) for p in sel]) if ok else None,
                "gen_s": geomean([r.med("gen_s") for r in rs]) if ok else None,
                "gen_rss": geomean([r.med("gen_rss") for r in rs]) if ok else None,
                "app_s": geomean([r.med("app_s") for r in rs]) if ok else None,
                "app_rss": geomean([r.med("app_rss") for r in rs]) if ok else None,
            }
        peers = [(g[n]["ratio"], n) for n in PEER_NAMES if g[n]["ratio"] is not None]
        g["best_peer"] = min(peers) if peers else (None, None)
        groups[gname] = g
    return per_pair, groups


# ---- the scale run ---------------------------------------------------------------

def scale_run(sizes, reps, gendata, tools, workdir, pub):
    specs = [("X%dM" % mb, "code", mb, SCALE_SEED + mb, "code-like %d MiB, major release" % mb) for mb in sizes]
    return large_run("scale", specs, SCALE_TOOLS, reps, gendata, tools, workdir, pub)


def shape_run(sizes, reps, gendata, tools, workdir, pub):
    specs = [("%s%dM" % (kind[:3].upper(), mb), kind, mb, SHAPE_SEED + mb, "%s, %d MiB" % (desc, mb))
             for mb in sizes for kind, desc in SHAPES]
    return large_run("shapes", specs, SHAPE_TOOLS, reps, gendata, tools, workdir, pub)


def large_run(name, specs, tool_names, reps, gendata, tools, workdir, pub):
    """Large generated pairs, (id, gendata kind, MiB, seed, description) each,
    measured and deleted afterwards: reps = (repetitions below BIG_MIB,
    repetitions from it)."""
    sdir = os.path.join(workdir, name)
    os.makedirs(sdir, exist_ok=True)
    by_name = {t.name: t for t in tools}
    stools = [by_name[n] for n in tool_names if n in by_name]
    pairs = []
    for pid, kind, mb, seed, desc in specs:
        log("%s: generating %s (%s)" % (name, pid, desc))
        old, new = gen_pair(gendata, sdir, pid, kind, "major", "%dM" % mb, seed)
        pairs.append(Pair(pid, name, old, new, desc, kind))
    results = {}
    for big in (False, True):
        sel = [p for p, spec in zip(pairs, specs) if (spec[2] >= BIG_MIB) == big]
        if sel:
            log("%s: %d pairs x %d tools x %d repetitions" % (name, len(sel), len(stools), reps[big]))
            results.update(run_pairs(sel, stools, reps[big], sdir, pub, name, verbose=True))
    for p in pairs:  # the inputs are large and cheap to regenerate
        for f in (p.old, p.new):
            os.remove(f)
        for t in stools:
            patch = os.path.join(sdir, "%s.%s.patch" % (p.id, t.name))
            if os.path.exists(patch):
                os.remove(patch)
    return pairs, stools, results


def scale_table(pairs, stools, results):
    lines = ["| pair | input (old+new) | tool | patch | ratio | patch − new B | gen time s | ÷ bsdiff | s per MiB "
             "| gen peak RSS MiB | RSS B per input B | apply ms | apply RSS MiB |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in pairs:
        inp = p.old_size + p.new_size
        bsd = results.get((p.id, "bsdiff"))
        for t in stools:
            r = results.get((p.id, t.name))
            if r is None:
                continue
            if r.error:
                lines.append("| %s | %s MiB | %s | FAILED | | | | | | | | | |" % (p.id, mib(inp), t.name))
                continue
            gs = r.med("gen_s")
            vs = "%.2f" % (gs / bsd.med("gen_s")) if bsd and bsd.gen_s and not bsd.error else "—"
            lines.append("| %s | %s MiB | %s | %d | %s | %+d | %s | %s | %.3f | %s | %.2f | %s | %s |" % (
                p.id, mib(inp), t.name, r.med("size"), pct(ratio_of(p, r)), r.med("size") - p.new_size,
                "%.2f" % gs, vs, gs / (inp / 2.0 ** 20), mib(r.med("gen_rss")), r.med("gen_rss") / inp,
                ms(r.med("app_s")) if r.app_s else "n/a", mib(r.med("app_rss")) if r.app_rss else "n/a"))
    # growth between consecutive sizes
    growth = []
    for t, kind in [(t, k) for t in stools for k in sorted(set(p.kind for p in pairs))]:
        pts = [(p.old_size + p.new_size, results[(p.id, t.name)]) for p in pairs
               if p.kind == kind and (p.id, t.name) in results and not results[(p.id, t.name)].error]
        for (a, ra), (b, rb) in zip(pts, pts[1:]):
            k = math.log(b / a)
            growth.append("- %s, %s, %s → %s MiB input: time × %.1f (exponent %.2f), peak RSS × %.1f (exponent %.2f)" % (
                t.name, kind, mib(a), mib(b), rb.med("gen_s") / ra.med("gen_s"),
                math.log(rb.med("gen_s") / ra.med("gen_s")) / k, rb.med("gen_rss") / ra.med("gen_rss"),
                math.log(rb.med("gen_rss") / ra.med("gen_rss")) / k))
    rs = [(p, t, results[(p.id, t.name)]) for p in pairs for t in stools if (p.id, t.name) in results]
    notes = ["- %s %s: %s" % (p.id, t.name, r.note) for p, t, r in rs if r.note]
    notes += ["- %s %s: FAILED: %s" % (p.id, t.name, r.error.splitlines()[0]) for p, t, r in rs if r.error]
    out = lines + [""]
    if growth:
        out += ["Growth (exponent 1 = linear in the input):", ""] + growth + [""]
    if notes:
        out += notes + [""]
    return out


def scale_csv_rows(pairs, stools, results):
    return [csv_row(p, t, results[(p.id, t.name)]) for p in pairs for t in stools if (p.id, t.name) in results]


def merge_runs(a, b):
    """One (pairs, tools, results) from the scale run and the shapes run."""
    tools = a[1] + [t for t in b[1] if t not in a[1]]
    return a[0] + b[0], tools, {**a[2], **b[2]}


# ---- output ------------------------------------------------------------------

CSV_FIELDS = ["set", "pair", "kind", "old_size", "new_size", "tool", "patch_size", "ratio",
              "gen_s_median", "gen_s_min", "gen_s_max", "gen_rss_bytes", "gen_rss_per_input_byte",
              "apply_s_median", "apply_s_min", "apply_s_max", "apply_rss_bytes", "reps", "status",
              "ops_bytes", "payload_bytes", "framing_bytes", "header_bytes", "segments",
              "copy_bytes", "insert_bytes", "fill_bytes", "residual_nonzero", "model_entries", "load_address",
              "plain_size", "model_size"]


def csv_row(p, t, r):
    row = {"set": p.group, "pair": p.id, "kind": p.kind, "old_size": p.old_size, "new_size": p.new_size,
           "tool": t.name, "reps": len(r.gen_s),
           "status": "error" if r.error else ("ok" if r.app_s else "not-applied")}
    if r.size:
        row.update({"patch_size": r.med("size"), "ratio": "%.6f" % ratio_of(p, r) if not r.error else "",
                    "gen_s_median": "%.6f" % r.med("gen_s"), "gen_s_min": "%.6f" % min(r.gen_s),
                    "gen_s_max": "%.6f" % max(r.gen_s), "gen_rss_bytes": int(r.med("gen_rss")),
                    "gen_rss_per_input_byte": "%.3f" % (r.med("gen_rss") / (p.old_size + p.new_size))})
    if r.app_s:
        row.update({"apply_s_median": "%.6f" % r.med("app_s"), "apply_s_min": "%.6f" % min(r.app_s),
                    "apply_s_max": "%.6f" % max(r.app_s), "apply_rss_bytes": int(r.med("app_rss"))})
    if r.json:
        for k in CSV_FIELDS[CSV_FIELDS.index("ops_bytes"):]:
            row[k] = r.json.get(k, "")
    return row


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def plot(path, pairs, tools, results, workdir):
    if not pairs or not shutil.which("gnuplot"):
        log("no plot: %s" % ("no pairs" if pairs else "gnuplot not installed"))
        return False
    dat = os.path.join(workdir, "ratio.dat")
    with open(dat, "w") as f:
        f.write("pair " + " ".join(t.name for t in tools) + "\n")
        for p in pairs:
            vals = []
            for t in tools:
                x = ratio_of(p, results[(p.id, t.name)])
                vals.append("%.4f" % (100 * x) if x else "NaN")
            f.write("%s %s\n" % (p.id, " ".join(vals)))
    xs = [100 * x for x in (ratio_of(p, results[(p.id, t.name)]) for p in pairs for t in tools) if x]
    if not xs:
        return False
    lo = 10 ** math.floor(math.log10(min(xs)))
    hi = max(xs) * 2
    script = os.path.join(workdir, "ratio.gp")
    cols = ", ".join("'%s' using %d%s title columnheader" % (dat, i + 2, ":xtic(1)" if i == 0 else "")
                     for i in range(len(tools)))
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size 1600,640 font "sans,10"
set output '%s'
set title "Patch size / new image size (log scale; lower is better; median of the run)"
set ylabel "patch ratio (%%)"
set logscale y
set yrange [%g:%g]
set grid ytics mytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set key top left horizontal
plot %s
""" % (path, lo, hi, cols))
    p = subprocess.run(["gnuplot", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        log("gnuplot failed: %s" % p.stderr.strip())
        return False
    return True


def report(args, pairs, skipped, tools, results, per_pair, groups, scale, meta):
    fw = FWDELTA_CONFIGS[0][0]
    L = []
    L.append("# fwdelta benchmark results")
    L.append("")
    L.append("Generated by `make bench` (bench/bench.py) on %s. %d repetitions, median reported; tools "
             "alternated per repetition; every patch applied and checked byte-exact." % (meta["date"], args.reps))
    L.append("")
    L.append("- Machine: %s; load average %s at the start, %s at the end (a shared machine: timings are noisier than sizes, which are exact)."
             % (meta["machine"], meta["load0"], meta["load1"]))
    L.append("- Versions: " + "; ".join("%s %s" % kv for kv in meta["versions"].items()) + ".")
    L.append("- Wall times include a process spawn overhead of about %.1f ms (GNU time + exec of `true`, median), "
             "the same for every tool. Peak RSS is GNU time `%%M`: the whole process, libraries included."
             % (meta["spawn"] * 1000))
    if meta.get("corpus"):
        L.append("- Corpus: `%s` (%d pairs)." % (meta["corpus"], sum(1 for p in pairs if p.group == "corpus")))
    if skipped:
        reasons = sorted(set(w for _, w in skipped))
        L.append("- **Skipped:** " + "; ".join("%s (%s)" % (" ".join(pid for pid, w in skipped if w == why), why)
                                              for why in reasons) + ".")
    L.append("")
    L.append("Tools:")
    L.append("")
    cfg = {c[0]: c[2] for c in FWDELTA_CONFIGS}
    show = lambda argv: " ".join(a.format(old="OLD", new="NEW", patch="PATCH", out="OUT") for a in argv)
    for t in tools:
        if t.is_fwdelta:
            flags = " ".join(cfg[t.name])
            L.append("- `%s`: `fwdelta diff --key K%s --json OLD NEW -o PATCH` (defaults otherwise: range coder, "
                     "4 KiB blocks, payload 4,224 B, the default device profile); `fwdelta apply --pubkey K.pub --json OLD PATCH -o OUT`, the device "
                     "applier over a simulated flash" % (t.name, " " + flags if flags else ""))
        else:
            L.append("- `%s`: `%s`; `%s`" % (t.name, show(t.gen), show(t.app)))
    L.append("")
    L += summary_lines(pairs, tools, results, per_pair, groups, scale, markdown=True)
    L += speed_lines(pairs, results, per_pair, meta.get("prev_sizes", {}), args.speed_reps, args.speed_seconds)
    # ratio table
    L.append("## Patch ratio (patch / new image), median")
    L.append("")
    L.append("Smallest per pair in bold. `fwdelta / best peer` compares the default configuration with the "
             "smallest peer patch of that pair.")
    L.append("")
    L.append("| pair | kind | new image | " + " | ".join(t.name for t in tools) + " | best peer | fwdelta / best peer |")
    L.append("|---|---|---:|" + "---:|" * len(tools) + "---|---:|")
    for p in pairs:
        sizes = [results[(p.id, t.name)].med("size") if not results[(p.id, t.name)].error else None for t in tools]
        ok = [s for s in sizes if s is not None]
        smin = min(ok) if ok else None
        cells = []
        for t, s in zip(tools, sizes):
            r = results[(p.id, t.name)]
            if r.error:
                cells.append("FAIL")
                continue
            c = pct(ratio_of(p, r))
            cells.append("**%s**" % c if s == smin else c)
        row = per_pair[p.id]
        L.append("| %s | %s | %d | %s | %s | %s |" % (p.id, p.kind, p.new_size, " | ".join(cells),
                                                    row["best_peer"] or "—", fmt_ratio(row[fw])))
    for gname, g in groups.items():
        cells = [pct(g[t.name]["ratio"]) for t in tools]
        bp = g["best_peer"]
        fwr = g[fw]["ratio"]
        L.append("| **geomean %s (%d)** | | | %s | %s | %s |" % (
            gname, g["n"], " | ".join(cells), bp[1] or "—",
            fmt_ratio(fwr / bp[0]) if (fwr and bp[0]) else "—"))
    L.append("")
    L.append("![patch ratio per pair and tool](ratio.png)")
    L.append("")
    # detail table
    L.append("## Per pair and tool: size, time, memory (medians)")
    L.append("")
    L.append("gen = making the patch, apply = rebuilding the new image (fwdelta: the device applier over a "
             "simulated flash, host build). RSS/B = generator peak RSS per input byte (old + new).")
    L.append("")
    L.append("| pair | tool | patch B | ratio | gen ms | gen RSS MiB | RSS/B | apply ms | apply RSS MiB |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in pairs:
        inp = p.old_size + p.new_size
        for t in tools:
            r = results[(p.id, t.name)]
            if r.error:
                L.append("| %s | %s | FAILED | | | | | | |" % (p.id, t.name))
                continue
            L.append("| %s | %s | %d | %s | %s | %s | %.1f | %s | %s |" % (
                p.id, t.name, r.med("size"), pct(ratio_of(p, r)), ms(r.med("gen_s")), mib(r.med("gen_rss")),
                r.med("gen_rss") / inp, ms(r.med("app_s")), mib(r.med("app_rss"))))
    for gname, g in groups.items():
        for t in tools:
            x = g[t.name]
            if x["ratio"] is None:
                continue
            L.append("| **geomean %s** | %s | | %s | %s | %s | | %s | %s |" % (
                gname, t.name, pct(x["ratio"]), ms(x["gen_s"]), mib(x["gen_rss"]), ms(x["app_s"]),
                mib(x["app_rss"])))
    L.append("")
    # fwdelta breakdown
    L.append("## Where fwdelta's bytes go (default configuration, `diff --json`)")
    L.append("")
    L.append("ops = operation stream before the codec; payload = after it (what is sent, with framing and header); "
             "framing = 40 B per segment; header = header + signature.")
    L.append("")
    L.append("payload / best peer < 1 with patch / best peer > 1 means the fixed costs (framing, header) are what "
             "loses the pair.")
    L.append("")
    has_model = any(results[(p.id, fw)].json and "model_entries" in results[(p.id, fw)].json for p in pairs)
    if has_model:
        L.append("model = entries of the prediction model in the patch (0: none); without / with model = the two "
                 "candidate patches `--model auto` built (0: not built).")
        L.append("")
    L.append("| pair | patch B | payload | framing | header | framing+header % | segments | ops (raw) | copy B "
             "| insert B | fill B | residual ≠ 0 | patch − best peer B | payload / best peer |" +
             (" model | without / with model B |" if has_model else ""))
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if has_model else ""))
    for p in pairs:
        r = results[(p.id, fw)]
        j = r.json
        if not j:
            continue
        bp = per_pair[p.id]["best_peer_size"]
        fixed = j["framing_bytes"] + j["header_bytes"]
        L.append("| %s | %d | %d | %d | %d | %.1f | %d | %d | %d | %d | %d | %d | %s | %s |" % (
            p.id, j["patch_size"], j["payload_bytes"], j["framing_bytes"], j["header_bytes"],
            100.0 * fixed / j["patch_size"], j["segments"], j["ops_bytes"], j["copy_bytes"], j["insert_bytes"],
            j["fill_bytes"], j["residual_nonzero"], "%+d" % (j["patch_size"] - bp) if bp else "—",
            "%.3f" % (j["payload_bytes"] / bp) if bp else "—") +
            (" %s | %s / %s |" % (j.get("model_entries", "—"), j.get("plain_size", "—"), j.get("model_size", "—"))
             if has_model else ""))
    L.append("")
    # scale
    L.append("## Scale run: the generator on large code-like pairs and pathological shapes")
    L.append("")
    if scale is None:
        L.append("Not run (BENCH_SCALE=0).")
        L.append("")
    else:
        spairs, stools, sres = scale
        L.append("`gendata code major`: insertions early (everything after them moves), changed constants, "
                 "edited and deleted functions, a relinked block; %s. Shapes (fwdelta only; "
                 "`patch − new` is what the patch costs over storing the new image): %s." % (
                     scale_reps_text(args), "; ".join("`%s` %s" % kd for kd in SHAPES)))
        L.append("")
        L += scale_table(spairs, stools, sres)
    notes = ["- %s %s: %s" % (p.id, t.name, results[(p.id, t.name)].note)
             for p in pairs for t in tools if results[(p.id, t.name)].note]
    if notes:
        L += ["## Notes", ""] + notes + [""]
    L.append("## Synthetic pairs")
    L.append("")
    for pid, kind, edits, size, seed, desc in SYNTHETIC:
        L.append("- %s: %s (`gendata %s %s %s %d`)" % (pid, desc, kind, edits, size, seed))
    L.append("")
    return L


def table_lines(rows, markdown):
    """A markdown table, or aligned plain text for the terminal."""
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return out + ["| " + " | ".join(r) + " |" for r in rows[1:]]
    rows = [[c.replace("**", "") for c in r] for r in rows]
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]


def speed_lines(pairs, results, per_pair, prev, reps, seconds):
    """Per pair: generator time against bsdiff's, RSS per input byte, and the
    default patch's size against the previous run's table."""
    fw = FWDELTA_CONFIGS[0][0]
    L = ["## Generator speed and memory per pair", "",
         "`÷ bsdiff` is fwdelta's median generator wall time over bsdiff's, the two run back to back `runs` "
         "times per pair (which first alternating): at least %d times, and on until %g s had passed on the pair; "
         "`previous` is the size in the latest.csv this run replaced." % (reps, seconds),
         "",
         "| pair | fwdelta gen ms | bsdiff gen ms | ÷ bsdiff | runs | RSS B per input B | patch | previous | change |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in pairs:
        f = results[(p.id, fw)]
        row = per_pair[p.id]
        size = f.med("size") if not f.error else None
        old = prev.get(p.id)
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p.id, ms(row["gen_ms"][0] / 1000) if row["gen_ms"] else "—",
            ms(row["gen_ms"][1] / 1000) if row["gen_ms"] else "—",
            "%.2f" % row["time_vs_bsdiff"] if row["time_vs_bsdiff"] else "—", row["speed_runs"] or "—",
            "%.2f" % row["rss_per_byte"] if row["rss_per_byte"] else "—", size or "—", old or "—",
            "%+.2f %%" % (100.0 * (size - old) / old) if (size and old) else "—"))
    L.append("")
    return L


def previous_sizes(path):
    """The default configuration's patch size per pair in an earlier latest.csv."""
    fw = FWDELTA_CONFIGS[0][0]
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["pair"]: int(r["patch_size"]) for r in csv.DictReader(f)
                if r["tool"] == fw and r["patch_size"] and r["set"] in ("corpus", "synthetic")}


def summary_lines(pairs, tools, results, per_pair, groups, scale, markdown):
    """Where fwdelta stands, and the issue's targets (information only)."""
    fw = FWDELTA_CONFIGS[0][0]
    h = "## " if markdown else ""
    L = [h + "Where fwdelta stands", ""]
    if not pairs:
        return L + ["No pairs were measured.", ""]
    head = "corpus" if "corpus" in groups else "all"
    names = [c[0] for c in FWDELTA_CONFIGS]
    rows = [["pairs", "best peer (geomean ratio)"] + ["%s (÷ best peer)" % n for n in names]]
    for gname in [g for g in ("corpus", "synthetic", "all") if g in groups]:
        g = groups[gname]
        bp_ratio, bp = g["best_peer"]
        row = ["%s (%d)" % (gname, g["n"]), "%s %s" % (bp, pct(bp_ratio)) if bp else "—"]
        for n in names:
            r = g[n]["ratio"]
            row.append("%s (**%.3f**)" % (pct(r), r / bp_ratio) if (r and bp_ratio) else "—")
        rows.append(row)
    L.append("Geometric mean of patch / new image:")
    L.append("")
    L += table_lines(rows, markdown)
    L.append("")
    L.append("- per pair, %s / best peer (the peer with the smallest patch for that pair):" % fw)
    L.append("")
    cells = ["%s %s (%s)" % (p.id, fmt_ratio(per_pair[p.id][fw]), per_pair[p.id]["best_peer"] or "—")
             for p in pairs]
    for i in range(0, len(cells), 6):
        L.append("  " + ", ".join(cells[i:i + 6]))
    L.append("")
    L.append(h + "Targets (information, not a failure)" if markdown else "Targets (information, not a failure):")
    L.append("")
    # 1. smallest on every pair
    lost = [p.id for p in pairs if per_pair[p.id][fw] is None or per_pair[p.id][fw] > 1.0]
    L.append("- [%s] smallest patch on every pair: smallest on %d of %d%s" % (
        " " if lost else "x", len(pairs) - len(lost), len(pairs),
        "; not on " + " ".join(lost) if lost else ""))
    # 2. geomean
    g = groups[head]
    bp_ratio, bp = g["best_peer"]
    r = g[fw]["ratio"]
    if r is not None and bp_ratio:
        q = r / bp_ratio
        L.append("- [%s] geomean ≤ %.2f × best peer (%s pairs): %.3f × %s" % (
            "x" if q <= TARGET_GEOMEAN else " ", TARGET_GEOMEAN, head, q, bp))
    # 2b. the device profiles' geomeans (issue 13)
    for name, what, target in (("fwdelta", "default", TARGET_PROFILE_DEFAULT), ("fwdelta-small", "small",
                                                                                TARGET_PROFILE_SMALL)):
        r = g.get(name, {}).get("ratio")
        if r is not None:
            L.append("- [%s] %s device profile geomean ≤ %.1f %% (%s pairs): %s" % (
                "x" if r <= target / 100 else " ", what, target, head, pct(r)))
    # 3. RSS per input byte
    checks = [(p.id, per_pair[p.id]["rss_per_byte"]) for p in pairs
              if p.old_size + p.new_size >= RSS_CHECK_MIN_INPUT and per_pair[p.id]["rss_per_byte"]]
    if scale is not None:
        spairs, stools, sres = scale
        for p in spairs:
            r = sres[(p.id, fw)]
            if r.gen_rss and not r.error:
                checks.append((p.id, r.med("gen_rss") / (p.old_size + p.new_size)))
    if checks:
        worst = max(checks, key=lambda c: c[1])
        over = [c[0] for c in checks if c[1] > TARGET_RSS_PER_BYTE]
        L.append("- [%s] generator peak RSS ≤ %g B per input byte (pairs with ≥ 1 MiB of input%s): worst %.2f "
                 "(%s)%s" % (" " if over else "x", TARGET_RSS_PER_BYTE,
                             " and the scale run" if scale is not None else "", worst[1], worst[0],
                             "; over on " + " ".join(over) if over else ""))
        small = [per_pair[p.id]["rss_per_byte"] for p in pairs
                 if p.old_size + p.new_size < RSS_CHECK_MIN_INPUT and per_pair[p.id]["rss_per_byte"]]
        if small:
            L.append("  (on smaller pairs the process's fixed RSS dominates: up to %.0f B per input byte)"
                     % max(small))
    # 4. faster than bsdiff
    slow = [p.id for p in pairs if per_pair[p.id]["faster_than_bsdiff"] is False]
    known = [p.id for p in pairs if per_pair[p.id]["faster_than_bsdiff"] is not None]
    L.append("- [%s] generator as fast as bsdiff on every pair (median of back-to-back runs): on %d of %d%s" % (
        " " if slow or not known else "x", len(known) - len(slow), len(known),
        "; slower on " + " ".join(slow) if slow else ""))
    if scale is not None:
        spairs, stools, sres = scale
        for p in spairs:
            a, b = sres.get((p.id, fw)), sres.get((p.id, "bsdiff"))
            if a and b and a.gen_s and b.gen_s and not a.error and not b.error:
                L.append("  scale %s: fwdelta %.2f s, bsdiff %.2f s (÷ %.2f)" % (
                    p.id, a.med("gen_s"), b.med("gen_s"), a.med("gen_s") / b.med("gen_s")))
    L.append("")
    return L


def scale_reps_text(args):
    return "%d repetitions, median (pairs of %d MiB and more: %d)" % (
        args.scale_reps[False], BIG_MIB, args.scale_reps[True])


def write_scale(args, meta, scale):
    """scale.md and scale.csv: the latest scale run, from either target."""
    spairs, stools, sres = scale
    lines = ["# fwdelta scale run", "",
             "Generated by `make %s` on %s; %s; load average %s → %s; %s. Inputs: "
             "`gendata code major <N>M <%d+N>` for N MiB (insertions early, changed constants, edited and deleted "
             "functions, a relinked block); shapes `gendata SHAPE major <N>M <%d+N>`, fwdelta only: %s." % (
                 "bench-scale" if args.scale == "only" else "bench", meta["date"], meta["machine"], meta["load0"],
                 loadavg(), scale_reps_text(args), SCALE_SEED, SHAPE_SEED, "; ".join("`%s` %s" % kd for kd in SHAPES)),
             ""] + scale_table(spairs, stools, sres)
    with open(os.path.join(args.out, "scale.md"), "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")
    write_csv(os.path.join(args.out, "scale.csv"), scale_csv_rows(spairs, stools, sres))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fwdelta", default=os.path.join(ROOT, "build", "fwdelta"))
    ap.add_argument("--gendata", default=os.path.join(ROOT, "build", "bench", "gendata"))
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")))
    ap.add_argument("--speed-reps", type=int, default=int(os.environ.get("BENCH_SPEED_REPS", "11")),
                    help="back-to-back runs of fwdelta's and bsdiff's generator per pair for the time ratio")
    ap.add_argument("--speed-seconds", type=float, default=float(os.environ.get("BENCH_SPEED_SECONDS", "3")),
                    help="and more runs until this many seconds have passed on the pair")
    ap.add_argument("--scale", choices=["yes", "no", "only"], default="yes")
    ap.add_argument("--scale-reps", type=int, default=int(os.environ.get("BENCH_SCALE_REPS", "0") or 0),
                    help="repetitions of the scale run (default: --reps)")
    ap.add_argument("--big-reps", type=int, default=int(os.environ.get("BENCH_BIG_REPS", "1") or 1),
                    help="repetitions of the scale run's pairs of %d MiB and more" % BIG_MIB)
    ap.add_argument("--scale-sizes", default=os.environ.get("BENCH_SCALE_SIZES", "16 64 256"),
                    help="MiB, space-separated")
    ap.add_argument("--shape-sizes", default=os.environ.get("BENCH_SHAPE_SIZES", "16 64 256"),
                    help="MiB of the pathological shapes (part of the scale run), space-separated")
    ap.add_argument("--pairs", default=os.environ.get("BENCH_PAIRS", ""),
                    help="only these pair ids (space-separated), for quick runs")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    args.scale_reps = {False: args.scale_reps if args.scale_reps > 0 else args.reps, True: max(1, args.big_reps)}
    for exe in (GNU_TIME, args.fwdelta, args.gendata):
        if not os.access(exe, os.X_OK):
            sys.exit("bench: %s not found (run through `make bench`, which installs and builds it)" % exe)
    only = set(args.pairs.split())
    sizes = [int(x) for x in args.scale_sizes.split()]
    shape_sizes = [int(x) for x in args.shape_sizes.split()]
    work = os.path.join(args.out, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Run a private copy, so that a rebuild during the run cannot mix two builds.
    shutil.copy2(args.fwdelta, os.path.join(work, "fwdelta"))
    args.fwdelta = os.path.join(work, "fwdelta")
    key = os.path.join(work, "bench.pem")
    subprocess.run([args.fwdelta, "keygen", "-o", key], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    pub = os.path.join(work, "bench.pub.pem")
    tools = make_tools(args.fwdelta, key, pub)
    meta = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": machine(), "versions": tool_versions(args.fwdelta), "load0": loadavg()}
    meta["spawn"] = spawn_overhead(work)
    failed = False

    meta["prev_sizes"] = previous_sizes(os.path.join(args.out, "latest.csv"))
    large = lambda: merge_runs(scale_run(sizes, args.scale_reps, args.gendata, tools, work, pub),
                               shape_run(shape_sizes, args.scale_reps, args.gendata, tools, work, pub))
    if args.scale == "only":
        scale = large()
        lines = write_scale(args, meta, scale)
        print("\n".join(lines[4:]))
        log("wrote %s/scale.md, scale.csv" % os.path.relpath(args.out, os.getcwd()))
        errors = [(k, r.error) for k, r in scale[2].items() if r.error]
        for (pid, name), e in errors:
            log("BENCH FAILED: %s %s: %s" % (pid, name, e.splitlines()[0]))
        return 1 if errors else 0

    cpairs, skipped, cdir = corpus_pairs(only)
    meta["corpus"] = cdir
    spairs = synthetic_pairs(args.gendata, work, only)
    pairs = cpairs + spairs
    log("bench: %d pairs (%d corpus, %d synthetic) x %d tools x %d repetitions" % (
        len(pairs), len(cpairs), len(spairs), len(tools), args.reps))
    pdir = os.path.join(work, "pairs")
    os.makedirs(pdir)
    results = run_pairs(pairs, tools, args.reps, pdir, pub, "main")
    speed = speed_run([p for p in pairs if not results[(p.id, "bsdiff")].error], tools, args.speed_reps,
                      args.speed_seconds, pdir)
    scale = None
    if args.scale == "yes":
        scale = large()
    meta["load1"] = loadavg()
    per_pair, groups = analyse(pairs, tools, results, speed)
    os.makedirs(args.out, exist_ok=True)
    md = report(args, pairs, skipped, tools, results, per_pair, groups, scale, meta)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write("\n".join(md).rstrip("\n") + "\n")
    rows = [csv_row(p, t, results[(p.id, t.name)]) for p in pairs for t in tools]
    if scale is not None:
        rows += scale_csv_rows(*scale)
    write_csv(os.path.join(args.out, "latest.csv"), rows)
    if scale is not None:
        write_scale(args, meta, scale)
    plot(os.path.join(args.out, "ratio.png"), pairs, tools, results, work)

    errors = [(k, r.error) for k, r in results.items() if r.error]
    if scale is not None:
        errors += [(k, r.error) for k, r in scale[2].items() if r.error]
    log("")
    if scale is not None:
        print("Scale run:\n" + "\n".join(scale_table(*scale)))
    print("\n".join(summary_lines(pairs, tools, results, per_pair, groups, scale, markdown=False)))
    rel = os.path.relpath(args.out, os.getcwd())
    log("wrote %s/latest.md, latest.csv, ratio.png" % rel)
    if errors:
        log("BENCH FAILED: %d tool runs failed or rebuilt the wrong bytes:" % len(errors))
        for (pid, name), e in errors:
            log("  %s %s: %s" % (pid, name, e.splitlines()[0]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
