#!/usr/bin/python3
"""Turn a bench/peers.sh results file into docs/benchmarks.md and its plots.

    /usr/bin/python3 bench/report.py bench/results/<stamp>.jsonl [--out docs/benchmarks.md]

The results file holds one JSON line per measurement (cmd/dormouse-bench
output tagged with server, figure, rep and attempt) plus "meta" lines that
describe the machine and the software. For each (server, figure, rep) the
least disturbed attempt is kept (other_cpu_s / window_s: CPU used by other
processes during the measurement); the table shows the median over
repetitions with the range. Plots are PNG (matplotlib, Debian's
python3-matplotlib) or, without matplotlib, hand-written SVG, saved under
docs/benchmarks/. If the run saved a Dormouse CPU profile (pprof -top
output next to the results file), its top entries are summarized.
bench/notes.md, if present, is included as the analysis section.
"""

import argparse
import collections
import datetime
import json
import os
import re
import statistics
import sys

SERVERS = ["dormouse", "dormouse_pg", "prosody", "ejabberd"]
NAMES = {"dormouse": "Dormouse", "prosody": "Prosody", "ejabberd": "ejabberd", "dormouse_pg": "Dormouse (PostgreSQL)"}
COLORS = {"dormouse": "#4e79a7", "prosody": "#f28e2b", "ejabberd": "#59a14f", "dormouse_pg": "#a0cbe8"}


def load(path):
    meta, rows = {}, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                print("report: line %d is not JSON, skipped" % n, file=sys.stderr)
                continue
            if d.get("scenario") == "meta":
                meta[d.get("event")] = d
            elif "figure" in d and "server" in d:
                rows.append(d)
    return meta, rows


def disturbance(d):
    w = d.get("window_s") or 0
    return d.get("other_cpu_s", 0) / w if w > 0 else 0.0


def select(rows):
    """Keep one attempt per (server, figure, rep): without error if possible,
    then the least disturbed. Returns {(server, figure): [row per rep]}."""
    best = {}
    for d in rows:
        k = (d["server"], d["figure"], d.get("rep"))
        cur = best.get(k)
        rank = ("error" in d, disturbance(d))
        if cur is None or rank < ("error" in cur, disturbance(cur)):
            best[k] = d
    out = collections.defaultdict(list)
    for (s, fig, rep), d in sorted(best.items(), key=lambda kv: str(kv[0])):
        if fig == "throughput_profiled":
            continue
        out[(s, fig)].append(d)
    return out


def values(sel, server, figure, field):
    return [d[field] for d in sel.get((server, figure), []) if field in d and "error" not in d]


def higher_is_better(field):
    """Rates (msgs/s, logins/s) are better higher; times, CPU, memory,
    round trips and publishes are better lower."""
    return field.endswith("_per_s")


def previous_results(path):
    """The results file before path in its directory (by name: UTC stamps),
    or None."""
    d, name = os.path.split(os.path.abspath(path))
    older = sorted(f for f in os.listdir(d) if f.endswith(".jsonl") and f < name)
    return os.path.join(d, older[-1]) if older else None


def cpu_speed(meta):
    """One core's SHA-256 speed (kB/s) recorded by the run, or None."""
    v = meta.get("start", {}).get("cpu_sha256_16k_kbps", "")
    try:
        return float(str(v).rstrip("k"))
    except ValueError:
        return None


def regressions(w, path, sel, servers, table, medium, meta, limit=0.10):
    """Writes the section comparing each figure's median with the previous
    results file, flagging those more than limit worse."""
    prev = previous_results(path)
    w("## Changes against the previous run")
    w("")
    if prev is None:
        w("No previous results file in `%s`: nothing to compare." % os.path.dirname(path))
        w("")
        return
    pmeta, prows = load(prev)
    psel = select(prows)
    pm = pmeta.get("start", {})
    pmedium = pm.get("storage", "tmpfs (runs before the STORAGE setting)")
    w("Compared with `%s` (%s, commit %s, storage %s): medians more than %d%% worse are flagged." % (
        os.path.basename(prev), pm.get("time", "?"), pm.get("dormouse_commit", "?"), pmedium, limit * 100))
    # The medium and the file system, not the run's temporary directory.
    if pmedium.split(",")[0] != medium.split(",")[0]:
        w("**The storage media differ, so the figures that write to disk are not comparable.**")
    speed, pspeed = cpu_speed(meta), cpu_speed(pmeta)
    if speed and pspeed and abs(speed / pspeed - 1) > 0.10:
        w("**The machines differ: one core hashes %s MB/s here against %s MB/s then (`openssl speed sha256`), "
          "so no figure is comparable.**" % (fmt(speed / 1000), fmt(pspeed / 1000)))
    elif not (speed and pspeed):
        w("One of the runs did not record the machine's speed (`openssl speed sha256`, recorded since "
          "2026-12-07 14:45): if the machines differ, no figure is comparable.")
    w("")
    flagged = []
    for label, figure, field in table:
        for f in (field if isinstance(field, tuple) else (field,)):
            for srv in servers:
                a, b = med(psel, srv, figure, f), med(sel, srv, figure, f)
                if not a or b is None:
                    continue
                change = (b - a) / abs(a)
                worse = -change if higher_is_better(f) else change
                if worse > limit:
                    flagged.append("- **%s, %s** (`%s`): %s → %s (%+.0f%%)" % (
                        NAMES.get(srv, srv), label.strip(), f, fmt(a), fmt(b), change * 100))
    if flagged:
        w("%d figures regressed by more than %d%%:" % (len(flagged), limit * 100))
        w("")
        for line in flagged:
            w(line)
    else:
        w("No figure is more than %d%% worse." % (limit * 100))
    w("")


def med(sel, server, figure, field):
    v = values(sel, server, figure, field)
    return statistics.median(v) if v else None


def fmt(x):
    if x is None:
        return "n/a"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer()):
        return "{:,}".format(int(x))
    ax = abs(x)
    if ax >= 1000:
        return "{:,.0f}".format(x)
    if ax >= 100:
        return "%.0f" % x
    if ax >= 10:
        return "%.1f" % x
    if ax >= 1:
        return "%.2f" % x
    return "%.3f" % x


def cell(sel, server, figure, field):
    v = values(sel, server, figure, field)
    errs = [d for d in sel.get((server, figure), []) if "error" in d]
    if not v:
        if errs and all(d.get("unsupported") for d in errs):
            return "not supported"
        if errs:
            return "failed: " + errs[0]["error"][:80].replace("|", "/")
        return "n/a"
    m = statistics.median(v)
    s = fmt(m)
    if len(v) > 1 and min(v) != max(v):
        s += " (%s–%s)" % (fmt(min(v)), fmt(max(v)))
    if errs:
        s += " [%d failed]" % len(errs)
    return s


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def plot_groups(path, title, ylabel, groups, sel, servers, log=False):
    """A grouped bar chart: one group per (label, figure, field), one bar per
    server (median), with whiskers for the range across repetitions."""
    data = []
    for label, figure, field in groups:
        row = []
        for s in servers:
            v = values(sel, s, figure, field)
            row.append((statistics.median(v), min(v), max(v)) if v else None)
        data.append((label, row))
    vals = [r[0] for _, row in data for r in row if r]
    if not vals:  # nothing measured for this plot in this run
        return None
    if log and min(vals) <= 0:
        log = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return plot_svg(path.replace(".png", ".svg"), title, ylabel, data, servers)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.9 * len(groups) + 1.5), 3.4), dpi=110)
    width = 0.8 / len(servers)
    for j, s in enumerate(servers):
        xs, hs, lo, hi = [], [], [], []
        for i, (_, row) in enumerate(data):
            if row[j] is None:
                continue
            m, a, b = row[j]
            xs.append(i - 0.4 + width * (j + 0.5))
            hs.append(m)
            lo.append(m - a)
            hi.append(b - m)
        ax.bar(xs, hs, width, label=NAMES[s], color=COLORS[s], yerr=[lo, hi], capsize=3)
        for x, h, up in zip(xs, hs, hi):  # the median, above the whisker
            ax.annotate(fmt(h), (x, h + up), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(data)))
    ax.set_xticklabels([d[0] for d in data], fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    if log:
        ax.set_yscale("log")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_svg(path, title, ylabel, data, servers):
    """The same chart as hand-written SVG (used without matplotlib)."""
    W, H, left, bottom, top = 120 + 170 * len(data), 300, 60, 40, 30
    vmax = max([r[0] for _, row in data for r in row if r] + [1e-9])
    ph = H - bottom - top
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<text x="%d" y="18" font-size="13" text-anchor="middle">%s</text>' % (W / 2, title),
           '<text x="14" y="%d" font-size="10" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>'
           % (top + ph / 2, top + ph / 2, ylabel),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, H - bottom, W - 10, H - bottom)]
    gw = (W - left - 20) / len(data)
    bw = gw * 0.8 / len(servers)
    for i, (label, row) in enumerate(data):
        gx = left + i * gw + gw * 0.1
        out.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>'
                   % (left + (i + 0.5) * gw, H - bottom + 15, label))
        for j, r in enumerate(row):
            if not r:
                continue
            h = r[0] / vmax * ph
            x = gx + j * bw
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                       % (x, H - bottom - h, bw * 0.95, h, COLORS[servers[j]]))
            out.append('<text x="%.1f" y="%.1f" font-size="8" text-anchor="middle">%s</text>'
                       % (x + bw / 2, H - bottom - h - 3, fmt(r[0])))
    for j, s in enumerate(servers):
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>'
                   % (W - 110, top + 14 * j, COLORS[s], W - 96, top + 9 + 14 * j, NAMES[s]))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path


# ---------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------

def parse_top(path):
    """pprof -top output: [(flat%, cum%, function)] and the header lines."""
    entries, header = [], []
    if not os.path.exists(path):
        return entries, header
    with open(path) as f:
        for line in f:
            p = line.split(None, 5)
            if len(p) == 6 and p[1].endswith("%") and p[4].endswith("%"):
                try:
                    entries.append((float(p[1][:-1]), float(p[4][:-1]), p[5].strip()))
                except ValueError:
                    pass
            elif line.strip() and not line.lstrip().startswith("flat"):
                header.append(line.rstrip())
    return entries, header


def package(fn):
    i = fn.rfind("/")
    j = fn.find(".", i + 1)
    return fn[:j] if j > 0 else fn


def group(pkg, fn=""):
    if fn and "." not in fn:  # assembly helpers: memeqbody, indexbytebody, p256MulInternal
        return "Go runtime and assembly helpers (runtime, sync, memmove...)" if "p256" not in fn \
            else "TLS and cryptography (crypto/...)"
    if "syscall" in pkg or pkg in ("internal/poll", "net"):
        return "system calls (network I/O, and SQLite's file locks) (syscall, internal/poll, net)"
    if pkg.startswith("crypto/") or "x/crypto" in pkg:
        return "TLS and cryptography (crypto/...)"
    if pkg == "runtime" or pkg.startswith("internal/runtime") or pkg in ("sync", "sync/atomic", "internal/sync"):
        return "Go runtime and assembly helpers (runtime, sync, memmove...)"
    if pkg.startswith("dormouse.im/dormouse/"):
        return "Dormouse: " + pkg[len("dormouse.im/dormouse/"):]
    if pkg.startswith("modernc.org/"):
        return "SQLite (modernc.org)"
    return "other: " + pkg


# ---------------------------------------------------------------------------
# Document
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", default=None, help="default: docs/benchmarks.md in the repository")
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args.out or os.path.join(repo, "docs", "benchmarks.md")
    plotdir = os.path.join(os.path.dirname(out), "benchmarks")
    os.makedirs(plotdir, exist_ok=True)
    meta, rows = load(args.results)
    sel = select(rows)
    servers = [s for s in SERVERS if any(k[0] == s for k in sel)]
    m0 = meta.get("start", {})
    m1 = meta.get("end", {})
    P = m0.get("params", {})
    reps = P.get("REPS", "?")
    stamp = os.path.splitext(os.path.basename(args.results))[0]
    rel_results = os.path.relpath(os.path.abspath(args.results), repo)

    def p(k, default):
        return P.get(k) or default

    login_n, login_c = int(p("LOGIN_N", 2000)), int(p("LOGIN_C", 50))
    idle_n = int(p("IDLE_N", 1000))
    pairs, window, arch_low = p("TP_PAIRS", "50"), p("TP_WINDOW", "10"), p("ARCH_WINDOW_LOW", "2")
    tp_dur, arch_dur, lat_dur = p("TP_DURATION", "10s"), p("ARCH_DURATION", "5s"), p("LAT_DURATION", "3s")
    resume_n, resume_q = int(p("RESUME_N", 200)), p("RESUME_QUEUE", "5")
    hib_n, hib_wait = int(p("HIB_N", 1000)), p("HIB_WAIT", "10s")
    mam_k, mam_q = int(p("MAM_PREFILL", 2000)), p("MAM_QUERIES", "50")
    push_bursts, push_burst, push_gap = p("PUSH_BURSTS", "4"), p("PUSH_BURST", "5"), p("PUSH_GAP", "1.5s")
    num = "{:,}".format

    # (row label, figure, field)
    table = [
        ("Logins/s (%s logins, %d concurrent)" % ("{:,}".format(login_n), login_c), "login", "logins_per_s"),
        ("Login latency p50 / p99 (ms)", "login", ("latency_p50_ms", "latency_p99_ms")),
        ("Round trips per login (TCP connect to bind result, counted)", "login", "round_trips"),
        ("Server CPU per login (ms)", "login", "server_cpu_per_login_ms"),
        ("Memory per idle authenticated TLS session, SM off (KiB; %s sessions)" % "{:,}".format(idle_n),
         "idle_sm_off", "rss_per_session_kib"),
        ("Memory per idle authenticated TLS session, SM on (KiB)", "idle_sm_on", "rss_per_session_kib"),
        ("1:1 msgs/s delivered, %s pairs, window %s, not archived (`<no-store/>`), %s" % (pairs, window, tp_dur),
         "throughput", "msgs_per_s"),
        ("  end-to-end latency at that load p50 / p99 (ms)", "throughput", ("latency_p50_ms", "latency_p99_ms")),
        ("  server CPU per 1,000 messages (ms)", "throughput", "server_cpu_ms_per_1000_msgs"),
        ("1:1 msgs/s delivered, same, archived (MAM), %s" % arch_dur, "throughput_archived", "msgs_per_s"),
        ("  end-to-end latency at that load p50 / p99 (ms)", "throughput_archived",
         ("latency_p50_ms", "latency_p99_ms")),
        ("  server CPU per 1,000 messages (ms)", "throughput_archived", "server_cpu_ms_per_1000_msgs"),
        ("  its database's CPU per 1,000 messages (ms; PostgreSQL's processes)", "throughput_archived",
         "db_cpu_ms_per_1000_msgs"),
        ("1:1 msgs/s delivered, archived, %s pairs, window %s (fewer in flight), %s" % (pairs, arch_low, arch_dur),
         "throughput_archived_low", "msgs_per_s"),
        ("  end-to-end latency at that load p50 / p99 (ms)", "throughput_archived_low",
         ("latency_p50_ms", "latency_p99_ms")),
        ("Unloaded end-to-end latency p50 / p99 (ms; 1 pair, window 1, %s)" % lat_dur, "latency",
         ("latency_p50_ms", "latency_p99_ms")),
        ("Resume after a cut: TCP connect → `<resumed/>` p50 / p99 (ms; %s sessions, STARTTLS)" % num(resume_n),
         "resume", ("latency_p50_ms", "latency_p99_ms")),
        ("  round trips per resumption (counted)", "resume", "round_trips"),
        ("  server CPU per resumption (ms)", "resume", "server_cpu_per_resume_ms"),
        ("  same over direct TLS (XEP-0368) p50 / p99 (ms)", "resume_direct_tls", ("latency_p50_ms", "latency_p99_ms")),
        ("  round trips, direct TLS", "resume_direct_tls", "round_trips"),
        ("Memory per SM session, %s sessions: live (KiB)" % num(hib_n), "hibernate", "rss_per_live_session_kib"),
        ("  hibernated: RSS %s after the cut − RSS before login, per session (KiB)" % hib_wait, "hibernate",
         "rss_per_hibernated_session_kib"),
        ("  released by the cut: live − hibernated (KiB)", "hibernate", "rss_released_per_session_kib"),
        ("  Go heap after a GC per session, live / hibernated, queue acknowledged before the cut (KiB; Dormouse profiling run)", "hibernate_heap",
         ("heap_per_live_session_kib", "heap_per_hibernated_session_kib")),
        ("MAM last page of 50 at %s archived p50 / p99 (ms)" % num(mam_k), "mam", ("last_page_p50_ms", "last_page_p99_ms")),
        ("  first page since the prefill (`start` filter) p50 / p99 (ms)", "mam",
         ("first_page_since_p50_ms", "first_page_since_p99_ms")),
        ("  last page with a `with` filter p50 / p99 (ms)", "mam", ("with_last_page_p50_ms", "with_last_page_p99_ms")),
        ("Push: message → publish, first message of a burst p50 / p99 (ms; session hibernated)", "push_hibernate",
         ("latency_p50_ms", "latency_p99_ms")),
        ("  publishes per burst of %s messages (mean)" % push_burst, "push_hibernate", "publishes_per_burst_mean"),
        ("  same, client offline (stream closed) p50 / p99 (ms)", "push_offline", ("latency_p50_ms", "latency_p99_ms")),
        ("  publishes per burst, client offline (mean)", "push_offline", "publishes_per_burst_mean"),
        ("Load generator CPU per login (ms)", "login", "generator_cpu_per_login_ms"),
        ("Load generator CPU per 1,000 messages (ms)", "throughput", "generator_cpu_ms_per_1000_msgs"),
    ]

    L = []
    w = L.append
    when = m0.get("time", "")[:10]
    w("# Benchmarks: Dormouse, Prosody and ejabberd side by side")
    w("")
    w("Generated by `bench/report.py` from `%s` (run of %s UTC by `bench/peers.sh`; do not edit by hand: "
      "rerun the script). Medians of %s repetitions, with the range in parentheses; all three servers in "
      "one run, on one machine, by the repository's own load tool (`cmd/dormouse-bench`)." % (rel_results, when, reps))
    w("")
    medium = m0.get("storage", "tmpfs (runs before the STORAGE setting)")
    w("Run: %s, commit %s, storage medium of the servers' data: %s; command: `%s`." % (
        m0.get("time", "?"), m0.get("dormouse_commit", "?"), medium, m0.get("command", "sudo bench/peers.sh")))
    w("")
    w("## Results")
    w("")
    w("| figure | " + " | ".join(NAMES[s] for s in servers) + " |")
    w("|---|" + "---|" * len(servers))
    for label, figure, field in table:
        cells = []
        for s in servers:
            if isinstance(field, tuple):
                a, b = med(sel, s, figure, field[0]), med(sel, s, figure, field[1])
                if a is None:
                    cells.append(cell(sel, s, figure, field[0]))
                else:
                    cells.append("%s / %s" % (fmt(a), fmt(b)))
            else:
                cells.append(cell(sel, s, figure, field))
        w("| %s | %s |" % (label.replace("  ", "&nbsp;&nbsp;"), " | ".join(cells)))
    w("")
    regressions(w, args.results, sel, servers, table, medium, meta)
    # Checks the reader needs to trust the numbers.
    problems, unsupported = [], []
    for (s, fig), ds in sorted(sel.items()):
        for d in ds:
            if d.get("unsupported"):
                unsupported.append("%s %s: %s" % (NAMES.get(s, s), fig, d["error"]))
            elif "error" in d:
                problems.append("%s %s rep %s failed: %s" % (NAMES.get(s, s), fig, d.get("rep"), d["error"]))
            for k in ("lost", "bounced", "stalled_senders", "failures"):
                if d.get(k):
                    problems.append("%s %s rep %s: %s = %s" % (NAMES.get(s, s), fig, d.get("rep"), k, d[k]))
            for k, v in sorted(d.items()):
                if k.endswith("_rsm_count_off") and "error" not in d:
                    problems.append("%s %s rep %s: %s: %s (the pages themselves were right)" %
                                    (NAMES.get(s, s), fig, d.get("rep"), k[:-len("_rsm_count_off")], v))
    tls = {s: (sel.get((s, "login")) or [{}])[0].get("tls") for s in servers}
    w("Every throughput message was addressed to the receiving session's full JID (as bound by the server) and "
      "no session sent presence: all three servers delivered them (RFC 6121 §8.5.3.1)%s." %
      ("" if not problems else "; exceptions are listed below"))
    w("TLS negotiated: " + "; ".join("%s %s" % (NAMES[s], tls[s] or "?") for s in servers) + ".")
    if unsupported:
        w("")
        w("Not supported (the scenario says so instead of measuring): " + "; ".join(sorted(set(unsupported))) + ".")
    if problems:
        w("")
        w("Problems during the run:")
        w("")
        for x in problems:
            w("- " + x)
    w("")

    # Plots.
    # (file, title, y label, [(bar group label, figure, field)], log scale)
    plot_specs = [
        ("logins.png", "Logins per second (higher is better)", "logins/s",
         [("logins/s", "login", "logins_per_s")], False),
        ("cpu.png", "Server CPU (lower is better)", "ms",
         [("per login", "login", "server_cpu_per_login_ms"),
          ("per 1,000 msgs", "throughput", "server_cpu_ms_per_1000_msgs"),
          ("per 1,000 archived", "throughput_archived", "server_cpu_ms_per_1000_msgs")], True),
        ("idle.png", "Memory per idle TLS session (lower is better)", "KiB (RSS growth / sessions)",
         [("SM off", "idle_sm_off", "rss_per_session_kib"), ("SM on", "idle_sm_on", "rss_per_session_kib")], False),
        ("throughput.png", "1:1 messages delivered per second (higher is better)", "msgs/s",
         [("not archived", "throughput", "msgs_per_s"), ("archived", "throughput_archived", "msgs_per_s")], True),
        ("latency.png", "End-to-end latency (lower is better)", "ms",
         [("unloaded p50", "latency", "latency_p50_ms"), ("unloaded p99", "latency", "latency_p99_ms"),
          ("loaded p50", "throughput", "latency_p50_ms"), ("loaded p99", "throughput", "latency_p99_ms")], True),
        ("resume.png", "Resumption after a cut (lower is better)", "ms",
         [("STARTTLS p50", "resume", "latency_p50_ms"), ("STARTTLS p99", "resume", "latency_p99_ms"),
          ("direct TLS p50", "resume_direct_tls", "latency_p50_ms"),
          ("direct TLS p99", "resume_direct_tls", "latency_p99_ms")], False),
        ("hibernate.png", "Memory per SM session (lower is better)", "KiB per session (RSS; Go heap after GC)",
         [("live", "hibernate", "rss_per_live_session_kib"),
          ("hibernated", "hibernate", "rss_per_hibernated_session_kib"),
          ("Go heap, hibernated", "hibernate_heap", "heap_per_hibernated_session_kib")], False),
        ("mam.png", "MAM query latency, page of 50 (lower is better)", "ms",
         [("last page p50", "mam", "last_page_p50_ms"), ("last page p99", "mam", "last_page_p99_ms"),
          ("first page p50", "mam", "first_page_since_p50_ms"),
          ("with-filter p50", "mam", "with_last_page_p50_ms")], True),
        ("push.png", "Push: message → publish (lower is better)", "ms",
         [("hibernated p50", "push_hibernate", "latency_p50_ms"),
          ("offline p50", "push_offline", "latency_p50_ms")], True),
    ]
    plots = [plot_groups(os.path.join(plotdir, f), title, ylabel, groups, sel, servers, log=lg)
             for f, title, ylabel, groups, lg in plot_specs]
    plots = [x for x in plots if x]
    w(" ".join("![%s](benchmarks/%s)" % (os.path.splitext(os.path.basename(x))[0], os.path.basename(x))
               for x in plots if x))
    w("")

    # Budgets (issue 3).
    D = lambda fig, field: med(sel, "dormouse", fig, field)
    E = lambda fig, field: med(sel, "ejabberd", fig, field)
    Pr = lambda fig, field: med(sel, "prosody", fig, field)

    def verdict(ok, have, want, higher=True):
        if have is None or want is None:
            return "not measured in this run"
        if ok:
            return "**met**"
        if higher:
            return "**not met**: %s%% short (needs ×%.1f)" % (fmt(100 * (1 - have / want)), want / have)
        return "**not met**: %s%% over (needs ÷%.1f)" % (fmt(100 * (have / want - 1)), have / want)

    w("## Budgets (issue 3) and where Dormouse stands")
    w("")
    w("| budget | target here | Dormouse today | verdict |")
    w("|---|---|---|---|")
    lg, e_lg = D("login", "logins_per_s"), E("login", "logins_per_s")
    tgt = 4 * e_lg if e_lg else None
    w("| logins/s ≥ 4× ejabberd | ≥ %s/s (4 × %s) | %s/s | %s |" %
      (fmt(tgt), fmt(e_lg), fmt(lg), verdict(lg is not None and tgt is not None and lg >= tgt, lg, tgt)))
    cpu_l, e_cpu_l = D("login", "server_cpu_per_login_ms"), E("login", "server_cpu_per_login_ms")
    if cpu_l and e_cpu_l:
        w("| same, by server CPU per login: ≤ ¼ of ejabberd's | ≤ %s ms (%s / 4) | %s ms | %s |" %
          (fmt(e_cpu_l / 4), fmt(e_cpu_l), fmt(cpu_l),
           verdict(cpu_l <= e_cpu_l / 4, cpu_l, e_cpu_l / 4, higher=False)))
    idle_on = D("idle_sm_on", "rss_per_session_kib")
    p_on, e_on = Pr("idle_sm_on", "rss_per_session_kib"), E("idle_sm_on", "rss_per_session_kib")
    w("| idle TLS session ≤ 16 KiB with SM on (a third of Prosody's, a fifth of ejabberd's) | ≤ 16 KiB "
      "(Prosody/3 = %s, ejabberd/5 = %s here) | %s KiB | %s |" %
      (fmt(p_on / 3 if p_on else None), fmt(e_on / 5 if e_on else None), fmt(idle_on),
       verdict(idle_on is not None and idle_on <= 16, idle_on, 16, higher=False)))
    hib = D("hibernate", "rss_per_hibernated_session_kib")
    hheap = D("hibernate_heap", "heap_per_hibernated_session_kib")
    hwhat = "%s KiB RSS after the cut − before login (live: %s KiB)" % (
        fmt(hib), fmt(D("hibernate", "rss_per_live_session_kib")))
    if hheap is not None:  # the Go heap after a GC: what RSS cannot show yet
        hwhat += "; Go heap after a GC: %s KiB (live %s KiB), goroutines %s → %s" % (
            fmt(hheap), fmt(D("hibernate_heap", "heap_per_live_session_kib")),
            fmt(D("hibernate_heap", "goroutines_live")), fmt(D("hibernate_heap", "goroutines_hibernated")))
        hib = hheap
    w("| hibernated session ≤ 1 KiB plus its queue | ≤ 1 KiB (RSS: each session's queue is the presence it sent, "
      "not acknowledged; Go heap: nothing queued, the echo acknowledged before the cut) | %s | %s%s |" %
      (hwhat, verdict(hib is not None and hib <= 1, hib, 1, higher=False), " (by the Go heap)" if hheap is not None else ""))
    ar, ar99 = D("throughput_archived", "msgs_per_s"), D("throughput_archived", "latency_p99_ms")
    al, al99 = D("throughput_archived_low", "msgs_per_s"), D("throughput_archived_low", "latency_p99_ms")
    # The p99 half holds if a run at 10,000 msgs/s or more (either window) kept p99 under 50 ms.
    p99_ok = any(r is not None and r >= 10000 and r99 is not None and r99 < 50 for r, r99 in ((ar, ar99), (al, al99)))
    w("| archived 1:1 ≥ 20,000 msgs/s on the SQLite default, p99 < 50 ms at 10,000 msgs/s | ≥ 20,000/s; p99 < 50 ms "
      "at ≥ 10,000/s | %s/s, p99 %s ms (window %s per sender); window %s: %s/s, p99 %s ms | %s |" %
      (fmt(ar), fmt(ar99), window, arch_low, fmt(al), fmt(al99),
       verdict(ar is not None and ar >= 20000, ar, 20000) if ar is None or ar < 20000 else
       ("**met**" if p99_ok else "throughput met; no run at ≥ 10,000/s with p99 < 50 ms")))
    pg, pg99 = med(sel, "dormouse_pg", "throughput_archived", "msgs_per_s"), med(sel, "dormouse_pg", "throughput_archived", "latency_p99_ms")
    if pg is not None:
        pl, pl99 = (med(sel, "dormouse_pg", "throughput_archived_low", "msgs_per_s"),
                    med(sel, "dormouse_pg", "throughput_archived_low", "latency_p99_ms"))
        w("| archived 1:1 ≥ 20,000 msgs/s on PostgreSQL | ≥ 20,000/s | %s/s, p99 %s ms (window %s per sender); window %s: "
          "%s/s, p99 %s ms | %s |" % (fmt(pg), fmt(pg99), window, arch_low, fmt(pl), fmt(pl99),
                                     verdict(pg >= 20000, pg, 20000)))
    tp, e_tp = D("throughput", "msgs_per_s"), E("throughput", "msgs_per_s")
    w("| un-archived 1:1 ≥ 30,000 msgs/s (≈ 7× ejabberd) | ≥ 30,000/s (7 × ejabberd here would be %s/s) | %s/s "
      "| %s |" % (fmt(7 * e_tp if e_tp else None), fmt(tp), verdict(tp is not None and tp >= 30000, tp, 30000)))
    rs = D("resume", "latency_p50_ms")
    w("| resume p50 ≤ 3 ms | ≤ 3 ms | %s ms (STARTTLS, %s round trips; direct TLS %s ms) | %s |" %
      (fmt(rs), fmt(D("resume", "round_trips")), fmt(D("resume_direct_tls", "latency_p50_ms")),
       verdict(rs is not None and rs <= 3, rs, 3, higher=False)))
    pu, pub = D("push_hibernate", "latency_p50_ms"), D("push_hibernate", "publishes_per_burst_mean")
    pu_unsup = any(d.get("unsupported") for d in sel.get(("dormouse", "push_hibernate"), []))
    if pu is None:
        pv = ("not measured: Dormouse does not implement XEP-0357 push yet (the scenario reports it unsupported)"
              if pu_unsup else "not measured in this run")
        w("| push latency p50 ≤ 2 ms, one publish per burst | ≤ 2 ms, 1 publish | %s | %s |" %
          ("not supported" if pu_unsup else "n/a", pv))
    else:
        w("| push latency p50 ≤ 2 ms, one publish per burst | ≤ 2 ms, 1 publish | %s ms, %s publishes per burst | %s |" %
          (fmt(pu), fmt(pub), verdict(pu <= 2, pu, 2, higher=False) if pu > 2 or pub is None or pub <= 1.0001 else
           "latency met; %s publishes per burst" % fmt(pub)))
    mq = D("mam", "last_page_p99_ms")
    w("| MAM last page p99 ≤ 5 ms at 1M archived (PostgreSQL), ≤ 10 ms (SQLite) | ≤ 10 ms (SQLite default) | "
      "%s ms at %s archived (p50 %s ms) | %s; 1M archived not measured here (`-prefill 1000000`) |" %
      (fmt(mq), num(mam_k), fmt(D("mam", "last_page_p50_ms")),
       ("**met** at %s" % num(mam_k)) if mq is not None and mq <= 10 else verdict(False, mq, 10, higher=False)))
    w("")
    # What the targets mean on this machine: the generator shares the cores.
    cores = float(m0.get("nproc") or 2)
    budget_lines = []
    for what, fig, rate_field, gen_field, srv_field, target, per in (
            ("logins", "login", "logins_per_s", "generator_cpu_per_login_ms", "server_cpu_per_login_ms",
             tgt, 1.0),
            ("un-archived messages", "throughput", "msgs_per_s", "generator_cpu_ms_per_1000_msgs",
             "server_cpu_ms_per_1000_msgs", 30000, 1000.0),
            ("archived messages", "throughput_archived", "msgs_per_s", "generator_cpu_ms_per_1000_msgs",
             "server_cpu_ms_per_1000_msgs", 20000, 1000.0)):
        gen, srv = D(fig, gen_field), D(fig, srv_field)
        if not (gen and srv and target):
            continue
        gen_cores = target / per * gen / 1000  # cores the generator needs at the target rate
        unit = "ms per login" if per == 1 else "ms per 1,000 messages"
        if gen_cores >= cores:
            budget_lines.append(
                "- %s: at %s/s the load generator alone would need %.1f cores (%s %s), more than this "
                "machine's %d, so the target cannot be shown here; the server-CPU figure is the one to "
                "compare (Dormouse %s %s today)." % (what.capitalize(), fmt(target), gen_cores, fmt(gen), unit,
                                                     cores, fmt(srv), unit))
        else:
            allowed = (cores - gen_cores) / (target / per) * 1000
            budget_lines.append(
                "- %s: at %s/s the generator takes %.1f of the %d cores, leaving Dormouse %s %s; it uses "
                "%s today (%s)." % (what.capitalize(), fmt(target), gen_cores, cores, fmt(allowed), unit,
                                    fmt(srv), "within" if srv <= allowed else "×%.1f too much" % (srv / allowed)))
    if budget_lines:
        w("What the rate targets require on this %d-core machine, where the load generator shares the cores "
          "(its CPU per operation measured in the same run):" % cores)
        w("")
        for x in budget_lines:
            w(x)
        w("")
    w("Latency under load is set by the window: each of the %d senders keeps %s messages in flight, so by "
      "Little's law p50 ≈ in-flight messages / throughput (a faster server shows lower loaded latency)." %
      (2 * int(pairs), window))
    w("")

    # What the app server received (push scenario), per server and mode.
    seen = []
    for fig, mode in (("push_hibernate", "session hibernated"), ("push_offline", "client offline")):
        for sv in servers:
            d = next((d for d in sel.get((sv, fig), []) if d.get("publish_example_xml")), None)
            if d:
                seen.append((sv, mode, d))
    if seen:
        w("## Push notifications as the app server received them")
        w("")
        w("Counts over the whole push run (%s bursts of %s messages), and the last publish received, as "
          "the tool's component parsed it (namespaces normalized):" % (push_bursts, push_burst))
        w("")
        for sv, mode, d in seen:
            w("- %s, %s: %s publishes, %s with a `last-message-body`, %s before the first burst; per burst %s." %
              (NAMES[sv], mode, d.get("publishes"), d.get("publishes_with_body"), d.get("publishes_before_bursts"),
               d.get("publishes_per_burst")))
        w("")
        for sv, mode, d in seen:
            if mode == "session hibernated":
                w("%s:" % NAMES[sv])
                w("")
                w("```xml")
                w(d["publish_example_xml"])
                w("```")
                w("")

    # The hand-written analysis, if any.
    notes = os.path.join(repo, "bench", "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip())
        w("")

    # The reference figures (measured earlier on a machine like this one).
    ref = [
        ("logins/s", "login", "logins_per_s", 250, 110),
        ("server CPU per login (ms)", "login", "server_cpu_per_login_ms", 5.5, 9),
        ("idle session, SM off (KiB)", "idle_sm_off", "rss_per_session_kib", 81, 48),
        ("idle session, SM on (KiB)", "idle_sm_on", "rss_per_session_kib", 81, 68),
        ("un-archived msgs/s", "throughput", "msgs_per_s", 4300, 3200),
        ("archived msgs/s", "throughput_archived", "msgs_per_s", 190, 800),
        ("unloaded latency p50 (ms)", "latency", "latency_p50_ms", 0.6, 0.6),
        ("resume p50 (ms)", "resume", "latency_p50_ms", 6, 7),
        ("push: message → publish p50 (ms)", "push_hibernate", "latency_p50_ms", 3, 1000),
        ("MAM page of 50 at 2,000 archived p50 (ms)", "mam", "last_page_p50_ms", 180, 35),
    ]
    if "ejabberd" in servers or "prosody" in servers:
        w("## The peers in this run and in the issue")
        w("")
        w("| figure | ejabberd, issue | ejabberd, this run | Prosody, issue | Prosody, this run |")
        w("|---|---|---|---|---|")
        for label, fig, field, e_ref, p_ref in ref:
            w("| %s | %s | %s | %s | %s |" % (label, fmt(e_ref), fmt(E(fig, field)), fmt(p_ref), fmt(Pr(fig, field))))
        w("")
        w("Differences in set-up explain most gaps: here ejabberd stores SCRAM keys (its default stores "
          "passwords and derives the SCRAM keys, 4,096 PBKDF2 iterations, at every login), has no c2s shaper "
          "and a listen backlog of 128; data on %s. The issue does not say how its peers were "
          "configured beyond SM, MAM, carbons and CSI." % medium)
        w("")

    # Profiles.
    resdir = os.path.dirname(os.path.abspath(args.results))
    profiles = [
        ("cpu-throughput", "throughput_profiled", "CPU, un-archived throughput",
         "10 s CPU profile during an extra throughput run (%s pairs, window %s, `<no-store/>`)" % (pairs, window)),
        ("cpu-archived", "throughput_archived_profiled", "CPU, archived throughput",
         "10 s CPU profile during an extra archived throughput run (%s pairs, window %s)" % (pairs, window)),
        ("cpu-login", "login_profiled", "CPU, logins",
         "5 s CPU profile during an extra batch of logins (%d concurrent)" % login_c),
        ("heap-idle", "idle_sm_on_profiled", "live heap, %s idle SM sessions" % "{:,}".format(idle_n),
         "heap profile (`/debug/pprof/heap?gc=1`, in-use bytes) with %s idle sessions held, SM on"
         % "{:,}".format(idle_n)),
    ]
    profiles.append(("heap-hibernate", "hibernate_profiled", "live heap, %s hibernated SM sessions" % num(hib_n),
                     "heap profile (`/debug/pprof/heap?gc=1`, in-use bytes) after %s SM sessions were cut and "
                     "hibernated" % num(hib_n)))
    have = [x for x in profiles if os.path.exists(os.path.join(resdir, "%s-dormouse-%s-top.txt" % (stamp, x[0])))]
    if have:
        w("## Where Dormouse spends CPU and memory (profiles)")
        w("")
        w("Profiles taken from Dormouse's admin listener (`/debug/pprof/...`) during extra runs after the "
          "measurements (profiling costs a little CPU, so these runs are not in the table). The full "
          "`go tool pprof -top` outputs and the raw profiles are next to the results file.")
        w("")
    for kind, fig, title, how in have:
        top_path = os.path.join(resdir, "%s-dormouse-%s-top.txt" % (stamp, kind))
        entries, header = parse_top(top_path)
        heap = kind.startswith("heap")
        pr = next((d for d in rows if d.get("figure") == fig), {})
        extra = ""
        if "msgs_per_s" in pr:
            extra = "; that run delivered %s msgs/s with the profiler on" % fmt(pr["msgs_per_s"])
        elif "logins_per_s" in pr:
            extra = "; that batch ran at %s logins/s with the profiler on" % fmt(pr["logins_per_s"])
        elif "rss_per_session_kib" in pr:
            extra = "; RSS grew by %s KiB per session in that run" % fmt(pr["rss_per_session_kib"])
        elif "rss_per_hibernated_session_kib" in pr:
            extra = "; RSS per session in that run: live %s KiB, hibernated %s KiB" % (
                fmt(pr["rss_per_live_session_kib"]), fmt(pr["rss_per_hibernated_session_kib"]))
        w("### %s" % (title[0].upper() + title[1:]))
        w("")
        w("%s%s (`%s`)." % (how, extra, os.path.relpath(top_path, repo)))
        w("")
        for h in header:
            if h.startswith("Duration") or h.startswith("Showing nodes"):
                w("    " + h.strip())
        w("")
        unit = "share of in-use heap" if heap else "share of CPU samples"
        groups = collections.Counter()
        for flat, cum, fn in entries:
            groups[group(package(fn), fn)] += flat
        w("| area (flat) | %s |" % unit)
        w("|---|---|")
        for g, v in groups.most_common(10):
            if v >= 1:
                w("| %s | %.1f%% |" % (g, v))
        w("")
        n = 10 if heap else 12
        w("| flat | cum | top functions |")
        w("|---|---|---|")
        for flat, cum, fn in entries[:n]:
            w("| %.1f%% | %.1f%% | `%s` |" % (flat, cum, fn))
        w("")
        centries, _ = parse_top(top_path.replace("-top.txt", "-cum.txt"))
        interesting = [e for e in centries if e[2].startswith("dormouse.im/") and not any(
            x in e[2] for x in ("(*Conn).serve", "(*Conn).run", "Serve.func1"))]
        if heap:  # who holds the memory: Dormouse and crypto/tls frames, cumulative
            interesting = [e for e in centries if (e[2].startswith("dormouse.im/") or e[2].startswith("crypto/tls."))
                           and not any(x in e[2] for x in ("(*Conn).serve", "(*Conn).run", "Serve.func1"))]
        if interesting:
            w("| cum | %s functions, cumulative |" % ("Dormouse and crypto/tls" if heap else "Dormouse"))
            w("|---|---|")
            for flat, cum, fn in interesting[:14 if heap else 10]:
                w("| %.1f%% | `%s` |" % (cum, fn))
            w("")
        if heap:
            ms = os.path.join(resdir, "%s-dormouse-heap-idle-memstats.txt" % stamp)
            if os.path.exists(ms):
                stats = []
                with open(ms) as f:
                    for l in f:
                        m = re.match(r"#\s*(\w+)\s*=?\s*(\d+)", l)
                        if not m:
                            continue
                        k, v = m.group(1), int(m.group(2))
                        if k == "VmRSS_kib":
                            stats.append("process RSS %.1f MiB" % (v / 1024))
                        elif k in ("NumGC", "goroutines"):
                            stats.append("%s %d" % (k, v))
                        else:
                            stats.append("%s %.1f MiB" % (k, v / 1048576))
                w("Go runtime memory statistics at the same moment (`/debug/pprof/heap?debug=1`; Stack is "
                  "goroutine stacks in use): " + ", ".join(stats) + ".")
                w("")

    # How it was measured.
    w("## How it was measured")
    w("")
    w("Machine: %s CPU cores (`nproc`), CPU model `%s`, Linux %s, Debian %s. Memory (`free -h`):" %
      (m0.get("nproc", "?"), m0.get("cpu_model", "?"), m0.get("kernel", "?"), m0.get("debian", "?")))
    w("")
    for line in m0.get("free_h", "").splitlines():
        w("    " + line)
    w("")
    w("The load generator runs on the same two cores as the server (its CPU use is in the table). "
      "Load average (1, 5, 15 min) at the start: %s; at the end: %s. The machine is shared with other "
      "work (test suites); see *Disturbance* below." % (m0.get("loadavg", "?"), m1.get("loadavg", "?")))
    w("")
    w("Software:")
    w("")
    w("- Dormouse %s, commit %s%s, built with %s" % (m0.get("dormouse_version", "?").replace("dormouse ", ""),
                                                  m0.get("dormouse_commit", "?"),
                                                  " plus uncommitted changes in the working tree" if m0.get("dormouse_dirty") else "",
                                                  m0.get("go", "?").replace("go version ", "")))
    w("- Prosody %s (Debian), prosody-modules %s, %s" % (m0.get("prosody", "?"), m0.get("prosody_modules", "?"),
                                                        m0.get("lua", "?")))
    w("- ejabberd %s (Debian), Erlang/OTP package %s" % (m0.get("ejabberd", "?"), m0.get("erlang", "?")))
    w("- %s" % m0.get("openssl", "?"))
    w("")
    w("Set-up, identical where the servers allow it (`bench/peers.sh` writes every configuration):")
    w("")
    w("- One private instance per server, started by the script on its own loopback port (Prosody 15222, "
      "ejabberd 25222, Dormouse 30222; all below Linux's ephemeral port range, which starts at 32768), with its own configuration and data directory in a temporary "
      "directory on %s, deleted at the end. Prosody runs as the `prosody` user and ejabberd "
      "as the `ejabberd` user (started with `setpriv`, which keeps the raised open-files limit; `su` would "
      "drop it to 1,024); Dormouse as root. Nothing else is installed system-wide apart from the Debian "
      "packages, whose own services are not started." % medium)
    w("- TLS required (STARTTLS), one self-signed ECDSA P-256 certificate for all three, a full handshake "
      "for every connection (no session resumption), and the client offers only the X25519 key exchange "
      "(Go would offer the post-quantum hybrid X25519MLKEM768 first, which only Dormouse supports and which "
      "costs more CPU on both sides); SASL SCRAM-SHA-1; "
      "accounts `bench0`… with password = name stored as SCRAM keys with 4,096 PBKDF2 iterations on all "
      "three (Prosody's default would be 10,000 and ejabberd's default stores plain-text passwords).")
    w("- Features on: stream management (XEP-0198), MAM with archive-everything as the default policy, "
      "carbons, CSI, push (Prosody `mod_cloud_notify` from prosody-modules, ejabberd `mod_push`; Dormouse "
      "has no push yet), blocking, vCard-temp, offline storage, ping, version. Archives: Dormouse on its "
      "SQLite default (WAL; synchronous=NORMAL before 2026-12-07, FULL since), Prosody on SQLite "
      "(`storage = { archive = \"sql\" }`), ejabberd on Mnesia (its default). Data on %s%s." % (
          medium, ": fsync is free for all three (\"without fsync\")" if medium.startswith("tmpfs") else ""))
    w("- Rate limits off on all three: Dormouse `c2s.stanza_rate`/`stanza_burst` raised and "
      "`max_connections_per_ip = 0`; Prosody without `mod_limits`; ejabberd without a c2s shaper. "
      "Prosody with Nagle off (`network_settings = { nagle = false }`; 0.12's default leaves it on). "
      "ejabberd's listen `backlog` raised from 5 to 128 (Prosody's), since 5 drops SYNs at 50 concurrent "
      "connects. Everything else is each server's default.")
    w("")
    w("Method (`cmd/dormouse-bench`, one JSON line per measurement):")
    w("")
    w("- **login**: %s complete logins, %d at a time, each a new TCP connection: STARTTLS, SCRAM-SHA-1, "
      "bind, then `</stream:stream>`; logins/s over the whole batch, latency from connect to the bind "
      "result. Round trips are counted once per run, before the batch, by logging in through a proxy that "
      "delays each direction by 5 ms and counting the client's flights that the server answered, plus "
      "one for the TCP handshake. Server CPU = utime+stime of the server process (`/proc/PID/stat`) over "
      "the batch / logins." % ("{:,}".format(login_n), login_c))
    w("- **idle**: %s sessions logged in (50 at a time), each sending initial presence (and, for SM on, "
      "`<enable resume='true'/>` first); after %s the server's RSS growth (VmRSS) divided by the sessions. "
      "Each idle measurement starts from a freshly started server, so memory freed by an earlier test "
      "cannot hide the cost. The generator answers `<r/>` so no server cuts a session." %
      ("{:,}".format(idle_n), p("IDLE_SETTLE", "3s")))
    w("- **throughput**: %s pairs of sessions (no presence) send each other chat messages addressed to the "
      "peer's full JID as bound by the server, each sender keeping at most %s unacknowledged by delivery "
      "(a credit returns when the peer receives one); 1 s warm-up, then %s measured; msgs/s = messages "
      "received in the window / its length; latency from a send timestamp in the body; server CPU over "
      "exactly that window. Not archived: each message carries `<no-store xmlns='urn:xmpp:hints'/>` "
      "(XEP-0334), honoured by all three MAM implementations. Archived: the same without the hint, %s. "
      "Unloaded latency: one pair, window 1, %s." % (pairs, window, tp_dur, arch_dur, lat_dur))
    w("- **resume**: %s sessions log in with stream management (`<enable resume='true'/>`) and initial presence; "
      "each receives %s chat messages it reads but does not acknowledge; every TCP connection is then reset "
      "(no `</stream:stream>`, as a phone losing its network) and each session reconnects and resumes "
      "(`<resume previd h/>`), %s at a time: latency from TCP connect to `<resumed/>` (TLS, SASL and the "
      "resumption included). Round trips are counted on one more session resumed through the delaying "
      "proxy. The same again over direct TLS (XEP-0368)." % (num(resume_n), resume_q, p("RESUME_C", "1")))
    w("- **hibernate**: after a few warm-up sessions, %s SM sessions with presence; RSS before login, with "
      "them live, and %s after resetting every connection (no resumption). Per session: (after the cut − "
      "before login) and (live − after the cut), so both are visible; a server that keeps freed memory in "
      "its heap shows little released. 20 of the sessions then resume, to check the server kept them "
      "(resume timeouts: Prosody 600 s, ejabberd 300 s, Dormouse 10 min)." % (num(hib_n), hib_wait))
    w("- **mam**: one sender sends %s chat messages (archived) to one receiver on fresh accounts, at most "
      "10 in flight; once all are delivered the receiver runs %s XEP-0313 (`urn:xmpp:mam:2`) queries of "
      "each shape, one at a time: the last page (`<max>50</max><before/>`), the first page since the "
      "prefill began (`start` field), and the last page with a `with` filter; latency from the query to "
      "the `<iq/>` that ends the results. Every result is checked (count, first and last message, sender; "
      "RSM `<count/>` where given): a wrong answer is an error, not a number." % (num(mam_k), mam_q))
    w("- **push**: the load tool is the XEP-0357 app server, connected to the server as an XEP-0114 "
      "component (`push.localhost`, shared secret). A client enables push (`<enable jid node>` with a "
      "publish-options form carrying a secret, as Conversations sends it) and goes away: its connection "
      "is reset (hibernated SM session) or, in the offline variant, its stream closed. Another account "
      "sends %s bursts of %s chat messages to its bare JID, each followed by %s for the publishes; then the pushed client "
      "comes back (resumes, or logs in), reads the burst and goes away again, as a phone woken by the push "
      "would. Latency is from the burst's first message to the first publish IQ the app server receives "
      "(it answers each with a result); publishes are counted per burst. A server whose disco#info does "
      "not advertise `urn:xmpp:push:0` is reported as not supported." % (push_bursts, push_burst, push_gap))
    w("- %s repetitions; in each, the servers run one after the other (the order rotates between "
      "repetitions). Each server is started fresh four times per repetition: for the SM-off idle test, for "
      "the SM-on one, for the logins, and for the message tests (throughput, then unloaded latency, then "
      "archived throughput, on the same instance). Fresh starts keep one test's after-effects out of the "
      "next: a server that has just held 1,000 sessions can be slower afterwards (see the analysis)." % reps)
    w("")
    w("### Disturbance")
    w("")
    w("Before each CPU-bound measurement the script waits (up to %ss) until other processes use less than "
      "%s of a core; every result records the CPU other processes used while it ran (`other_cpu_s`: "
      "machine busy time from `/proc/stat` minus generator and server), and a measurement disturbed by more "
      "than that is run again once; the least disturbed attempt is kept. Other processes' CPU during the "
      "kept measurements, in cores (median, max over repetitions):" % (p("QUIET_MAX", "60"), p("QUIET_CORES", "0.5")))
    w("")
    figs = ["login", "throughput", "throughput_archived", "latency", "resume", "resume_direct_tls", "mam"]
    w("| figure | " + " | ".join(NAMES[s] for s in servers) + " |")
    w("|---|" + "---|" * len(servers))
    for fig in figs:
        cs = []
        for s in servers:
            v = [disturbance(d) for d in sel.get((s, fig), [])]
            cs.append("%.2f, %.2f" % (statistics.median(v), max(v)) if v else "n/a")
        w("| %s | %s |" % (fig, " | ".join(cs)))
    retried = collections.Counter((d["server"], d["figure"]) for d in rows if str(d.get("attempt")) == "2")
    if retried:
        w("")
        w("Measurements repeated because the first attempt was disturbed: " +
          ", ".join("%s %s ×%d" % (NAMES.get(s, s), f, n) for (s, f), n in sorted(retried.items())) + ".")
    w("")
    w("## Commands")
    w("")
    w("```sh")
    w("sudo bench/peers.sh                                  # everything: install, set up, run, report (~25 min)")
    w("/usr/bin/python3 bench/report.py %s   # this page again from the results" % rel_results)
    w("")
    w("# one figure by hand against a running server (PID for CPU and RSS):")
    w("go build -o /tmp/dormouse-bench ./cmd/dormouse-bench")
    w("/tmp/dormouse-bench -scenario login -addr 127.0.0.1:30222 -n %d -c %d -pid PID" % (login_n, login_c))
    w("/tmp/dormouse-bench -scenario idle -addr 127.0.0.1:30222 -n %d -sm -pid PID" % idle_n)
    w("/tmp/dormouse-bench -scenario throughput -addr 127.0.0.1:30222 -pairs %s -window %s -duration %s -pid PID"
      % (pairs, window, tp_dur))
    w("/tmp/dormouse-bench -scenario throughput -addr 127.0.0.1:30222 -pairs %s -window %s -no-store=false -pid PID"
      % (pairs, window))
    w("/tmp/dormouse-bench -scenario throughput -addr 127.0.0.1:30222 -pairs 1 -window 1 -duration %s -pid PID"
      % lat_dur)
    w("/tmp/dormouse-bench -scenario resume -addr 127.0.0.1:30222 -n %d -c 1 -pid PID" % resume_n)
    w("/tmp/dormouse-bench -scenario resume -addr 127.0.0.1:30223 -direct-tls -n %d -c 1 -pid PID" % resume_n)
    w("/tmp/dormouse-bench -scenario hibernate -addr 127.0.0.1:30222 -n %d -pid PID" % hib_n)
    w("/tmp/dormouse-bench -scenario mam -addr 127.0.0.1:30222 -first 1998 -prefill %d -pid PID" % mam_k)
    w("/tmp/dormouse-bench -scenario push -addr 127.0.0.1:15222 -component-addr 127.0.0.1:15347 "
      "-component-secret SECRET -push-mode hibernate   # Prosody")
    w("go run ./bench/mkusers -storage sqlite:DIR/dormouse.db -n 2000   # Dormouse accounts")
    w("/usr/bin/python3 bench/prosody_accounts.py DATA_PATH localhost 2000 # Prosody accounts")
    w("```")
    w("")
    with open(out, "w") as f:
        f.write("\n".join(L))
    print("report: wrote %s and %d plots in %s" % (out, len([x for x in plots if x]), plotdir))


if __name__ == "__main__":
    main()
