"""Formatting for make bench (bench/run.sh): parses what one run left in its directory and makes
the table of medians.

    python3 bench/report.py line RUN_DIR/<config>/<workload>/<run>   one line about one run
    python3 bench/report.py latency-line RUN_DIR/latency/<config>/<run>   one fixed-rate run
    python3 bench/report.py table RUN_DIR [OUTPUT.md]               the table; also into OUTPUT.md

OUTPUT.md gets the table between its `<!-- bench:results:begin -->` and
`<!-- bench:results:end -->` lines; the rest of the file is left as it is.
"""

import json
import os
import platform
import re
import statistics
import sys

CONFIGS = ["none", "wasm-noop", "native", "native-nocache", "jwt-relay"]
WORKLOADS = {
    "a": "(a) one repeated valid token",
    "b": "(b) unique valid tokens (cold)",
    "c-sig": "(c) unique invalid: bad signature",
    "c-cheap": "(c) unique invalid: unknown kid / not a JWT",
    "d": "(d) narrowing to `orders_cluster`",
}
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
MIB = 1024 * 1024
CONNECTIONS = 10  # bench/run.sh
# Workloads that send each token once; only there does cycling through the file matter.
UNIQUE = ("b", "c-sig", "c-cheap")


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                values[key] = value
    return values


def to_ms(text):
    """wrk's '123.45us', '1.20ms', '2.00s' as milliseconds."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_wrk(path):
    text = open(path).read()
    out = {"non2xx": 0, "socket_errors": 0}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not m:
        raise ValueError(f"{path}: no Requests/sec in wrk's output:\n{text}")
    out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[key] = to_ms(m.group(1))
    m = re.search(r"^\s+(\d+) requests in", text, re.M)
    out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
    m = re.search(r"tokens: used=(\d+) available=(\d+) wrapped=(\w+)", text)
    out["wrapped"] = bool(m and m.group(3) == "yes")
    out["tokens_used"] = int(m.group(1)) if m else 0
    return out


def parse_stats(path):
    stats = {}
    with open(path) as f:
        for line in f:
            name, _, value = line.partition(":")
            if value.strip().isdigit():
                stats[name.strip()] = int(value)
    return stats


def parse_run(run_dir):
    meta = read_env(os.path.join(run_dir, "meta.env"))
    r = {k: meta[k] for k in ("config", "workload", "run", "expect")}
    r.update(parse_wrk(os.path.join(run_dir, "wrk.txt")))
    wall = float(meta["wall"])
    clk = float(meta["clk_tck"])
    before = parse_stats(os.path.join(run_dir, "stats-before.txt"))
    after = parse_stats(os.path.join(run_dir, "stats-after.txt"))

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    codes = {c: delta(f"http.bench.downstream_rq_{c}") for c in ("2xx", "4xx", "5xx")}
    r["codes"] = codes
    r["upstream_2xx"] = delta("http.upstream.downstream_rq_2xx")
    # Cache lookups over the run (jwt_authn's, or jwt-relay's if its build counts them).
    hits = sum(delta(n) for n in after if n.endswith("cache_hit"))
    misses = sum(delta(n) for n in after if n.endswith("cache_miss"))
    r["cache_hits"] = hits / (hits + misses) if hits + misses else None
    # Answers other than the one the workload must get, counted by Envoy itself.
    wrong = sum(n for c, n in codes.items() if c != r["expect"])
    # Workload d: every request must also have reached the upstream listener. Requests in flight
    # when a stats snapshot is taken can land on either side of it, hence the slack.
    if r["workload"] == "d" and abs(codes["2xx"] - r["upstream_2xx"]) > 2 * CONNECTIONS:
        wrong += abs(codes["2xx"] - r["upstream_2xx"])
    r["wrong"] = wrong + r["socket_errors"]

    mem_before = json.load(open(os.path.join(run_dir, "memory-before.json")))
    mem_after = json.load(open(os.path.join(run_dir, "memory-after.json")))
    r["alloc"] = int(mem_after["allocated"])
    r["alloc_delta"] = int(mem_after["allocated"]) - int(mem_before["allocated"])
    status = read_colon(os.path.join(run_dir, "status.txt"))
    r["rss"] = int(status["VmRSS"].split()[0]) * 1024

    r["envoy_cpu"], r["wrk_cpu"], r["other_cpu"] = cpu_shares(meta, os.path.join(run_dir, "wrk.txt.cpu"))
    return r


def cpu_shares(meta, load_cpu_file):
    """Envoy's, the load generator's and everything else's CPU over a run, in cores: "other" is
    what the two cores spent on anything but this Envoy and this load generator (other
    processes, interrupts), plus time the hypervisor took away."""
    wall, clk = float(meta["wall"]), float(meta["clk_tck"])
    cpu_before = [int(x) for x in meta["cpu_before"].split()]
    cpu_after = [int(x) for x in meta["cpu_after"].split()]
    busy = (cpu_after[0] - cpu_before[0]) / clk
    steal = (cpu_after[1] - cpu_before[1]) / clk
    envoy = int(meta["envoy_ticks"]) / clk
    load_user, load_sys = (float(x) for x in open(load_cpu_file).read().split())
    other = max(0.0, busy - envoy - load_user - load_sys + steal)
    return envoy / wall, (load_user + load_sys) / wall, other / wall


def read_colon(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            values[key.strip()] = value.strip()
    return values


def line(run_dir):
    """Prints one line about the run. Exit status 3: Envoy gave answers the workload forbids;
    4: other processes took more than $BENCH_NOISY of a core (default 0.15) during the run."""
    r = parse_run(run_dir)
    flags = []
    if r["wrong"]:
        flags.append(f"{r['wrong']} WRONG ANSWERS {r['codes']}")
    if r["cache_hits"] is not None:
        flags.append(f"cache hits {r['cache_hits']:.0%}")
    if r["wrapped"] and r["workload"] in UNIQUE:
        flags.append(f"token file cycled ({r['tokens_used']:,} sent)")
    if r["other_cpu"] > 0.1:
        flags.append(f"other load {r['other_cpu']:.0%} of a core")
    print(
        f"  {r['config']:<15} {r['workload']:<8} run {r['run']}: {r['rps']:>9.0f} req/s  "
        f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  Envoy CPU {r['envoy_cpu']:.0%}  "
        f"wrk CPU {r['wrk_cpu']:.0%}  RSS {r['rss'] / MIB:.1f} MiB  "
        f"heap {r['alloc'] / MIB:.1f} MiB ({r['alloc_delta'] / MIB:+.1f})"
        + ("  [" + "; ".join(flags) + "]" if flags else "")
    )
    if r["wrong"]:
        sys.exit(3)
    if r["other_cpu"] > float(os.environ.get("BENCH_NOISY", "0.15")):
        sys.exit(4)


def parse_latency(run_dir):
    """One fixed-rate run: oha's JSON (seconds) as milliseconds, plus who else used the cores."""
    meta = read_env(os.path.join(run_dir, "meta.env"))
    oha = json.load(open(os.path.join(run_dir, "oha.json")))
    pct = oha["latencyPercentiles"]
    codes = oha.get("statusCodeDistribution") or {}
    r = {"config": meta["config"], "run": meta["run"], "rate": float(meta["rate"])}
    r["p50"], r["p99"], r["p999"] = (pct[k] * 1000 for k in ("p50", "p99", "p99.9"))
    r["achieved"] = oha["summary"]["requestsPerSec"]
    r["ok"] = codes.get("200", 0)
    # A request still in flight when oha's run time ends is aborted by oha, not failed by Envoy.
    errors = {e: n for e, n in (oha.get("errorDistribution") or {}).items()
              if e != "aborted due to deadline"}
    r["wrong"] = sum(n for code, n in codes.items() if code != "200") + sum(errors.values())
    r["envoy_cpu"], _, r["other_cpu"] = cpu_shares(meta, os.path.join(run_dir, "oha.json.cpu"))
    return r


def latency_line(run_dir):
    """Prints one line about a fixed-rate run; exit status 3 if any answer was not a 200."""
    r = parse_latency(run_dir)
    flags = [f"{r['wrong']} WRONG ANSWERS"] if r["wrong"] else []
    if r["other_cpu"] > 0.1:
        flags.append(f"other load {r['other_cpu']:.0%} of a core")
    print(
        f"  {r['config']:<15} latency  run {r['run']}: {r['achieved']:>7.0f} req/s  "
        f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  p99.9 {r['p999']:.3f} ms  "
        f"Envoy CPU {r['envoy_cpu']:.0%}" + ("  [" + "; ".join(flags) + "]" if flags else "")
    )
    if r["wrong"]:
        sys.exit(3)


def collect_latency(run_root):
    """Fixed-rate runs by config: medians, and each run for pairing with none's."""
    root = os.path.join(run_root, "latency")
    med = {}
    if not os.path.isdir(root):
        return med
    for config in sorted(os.listdir(root)):
        runs = [
            parse_latency(os.path.join(root, config, run))
            for run in sorted(os.listdir(os.path.join(root, config)))
            if os.path.exists(os.path.join(root, config, run, "oha.json"))
        ]
        if runs:
            m = {f: statistics.median(r[f] for r in runs)
                 for f in ("p50", "p99", "p999", "achieved", "envoy_cpu", "other_cpu")}
            m["by_run"] = {r["run"]: r for r in runs}
            m["runs"] = len(runs)
            m["wrong"] = sum(r["wrong"] for r in runs)
            m["rate"] = runs[0]["rate"]
            med[config] = m
    return med


def latency_added(lat, config, field):
    """Median over rounds of (config's run i − none's run i) for a percentile, in ms."""
    a, b = lat.get(config), lat.get("none")
    if not a or not b:
        return None
    pairs = [(r, b["by_run"][n]) for n, r in a["by_run"].items() if n in b["by_run"]]
    return statistics.median(x[field] - y[field] for x, y in pairs) if pairs else None


def latency_table(lat, bench):
    if not lat:
        return ""
    rate = next(iter(lat.values()))["rate"]
    rows = [
        f"Fixed rate: workload (a) at {rate:,.0f} req/s for {bench.get('latency_duration', '?')} s "
        "(oha, 10 connections, latency measured from when each request was due), "
        "medians of the runs; \"added\" pairs each run with the no-filter run of the same round.",
        "",
        "| config | p50 ms | p99 ms | p99.9 ms | p50 added | p99 added | Envoy CPU | answers | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for config in CONFIGS:
        m = lat.get(config)
        if m is None:
            continue
        added = {f: latency_added(lat, config, f) for f in ("p50", "p99")}
        shown = {f: "–" if config == "none" else "n/a" if v is None else f"{v:+.3f}"
                 for f, v in added.items()}
        notes = []
        if m["achieved"] < 0.98 * rate:
            notes.append(f"reached only {m['achieved']:,.0f} req/s")
        if m["other_cpu"] > 0.05:
            notes.append(f"other load {m['other_cpu']:.0%} of a core")
        answers = f"**{m['wrong']:,} wrong**" if m["wrong"] else "all 200"
        rows.append(
            f"| {config} | {m['p50']:.3f} | {m['p99']:.3f} | {m['p999']:.3f} | {shown['p50']} "
            f"| {shown['p99']} | {m['envoy_cpu']:.0%} | {answers} | {'; '.join(notes)} |"
        )
    return "\n".join(rows)


def collect(run_root):
    runs = []
    for config in sorted(os.listdir(run_root)):
        config_dir = os.path.join(run_root, config)
        if not os.path.isdir(config_dir) or config == "latency":
            continue
        for workload in sorted(os.listdir(config_dir)):
            # Runs set aside as noisy (<run>.noisy-<n>) are kept as raw data only.
            for run in sorted(d for d in os.listdir(os.path.join(config_dir, workload)) if d.isdigit()):
                run_dir = os.path.join(config_dir, workload, run)
                if os.path.exists(os.path.join(run_dir, "wrk.txt.cpu")):
                    runs.append(parse_run(run_dir))
    groups = {}
    for r in runs:
        groups.setdefault((r["config"], r["workload"]), []).append(r)
    med = {}
    for key, rs in groups.items():
        m = {f: statistics.median(r[f] for r in rs)
             for f in ("rps", "p50", "p99", "rss", "alloc", "alloc_delta", "envoy_cpu", "wrk_cpu", "other_cpu")}
        m["runs"] = len(rs)
        m["by_run"] = {r["run"]: r for r in rs}
        m["rps_all"] = sorted(r["rps"] for r in rs)
        m["wrong"] = sum(r["wrong"] for r in rs)
        m["codes"] = {c: sum(r["codes"][c] for r in rs) for c in ("2xx", "4xx", "5xx")}
        m["wrapped"] = any(r["wrapped"] for r in rs)
        rates = [r["cache_hits"] for r in rs if r["cache_hits"] is not None]
        m["cache_hits"] = statistics.median(rates) if rates else None
        m["expect"] = rs[0]["expect"]
        med[key] = m
    return med


def fmt_rps(x):
    return f"{x:,.0f}"


def paired(med, key, base_key, f):
    """The median over runs of f(run, base run), pairing run i of one row with run i of the
    other: run i of every row was measured in the same round, minutes apart at most, so a slow
    drift of the machine cancels out of the comparison."""
    a, b = med.get(key), med.get(base_key)
    if not a or not b:
        return None
    pairs = [(r, b["by_run"][n]) for n, r in a["by_run"].items() if n in b["by_run"]]
    return statistics.median(f(x, y) for x, y in pairs) if pairs else None


def rps_ratio(med, key, base_key):
    return paired(med, key, base_key, lambda x, y: x["rps"] / y["rps"])


def ratio(med, config, workload, base):
    if config == base and (config, workload) in med:
        return "–"
    value = rps_ratio(med, (config, workload), (base, workload))
    return "n/a" if value is None else f"{value:.2f}×"


def table(med):
    rows = [
        "| workload | config | req/s | × native | × native-nocache | × none | p50 ms | p99 ms "
        "| p99 − none | Envoy CPU | RSS MiB | heap MiB (Δ run) | answers | notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for workload, label in WORKLOADS.items():
        for config in CONFIGS:
            m = med.get((config, workload))
            if m is None:
                ran = any(c == config for (c, _) in med) and any(w == workload for (_, w) in med)
                if ran and config.startswith("native") and workload == "d":
                    rows.append(f"| {label} | {config} | n/a (no narrowing) | | | | | | | | | | |")
                continue
            p99_added = paired(med, (config, workload), ("none", workload), lambda x, y: x["p99"] - y["p99"])
            added = "–" if config == "none" else "n/a" if p99_added is None else f"{p99_added:+.3f}"
            notes = []
            spread = (m["rps_all"][-1] - m["rps_all"][0]) / m["rps"] if m["rps"] else 0
            if spread > 0.05:
                notes.append(f"runs {' / '.join(fmt_rps(x) for x in m['rps_all'])}")
            if m["cache_hits"] is not None:
                notes.append(f"cache hits {m['cache_hits']:.0%}")
            if m["wrapped"] and workload in UNIQUE and config != "none":
                notes.append("token file cycled")
            if m["other_cpu"] > 0.05:
                notes.append(f"other load {m['other_cpu']:.0%} of a core")
            if m["wrk_cpu"] > 0.9:
                notes.append(f"wrk at {m['wrk_cpu']:.0%} CPU")
            if m["wrong"]:
                codes = " / ".join(f"{n:,} {c}" for c, n in m["codes"].items())
                answers = f"**{m['wrong']:,} wrong** ({codes})"
            else:
                answers = f"all {m['expect']}"
            rows.append(
                f"| {label} | {config} | {fmt_rps(m['rps'])} | {ratio(med, config, workload, 'native')} "
                f"| {ratio(med, config, workload, 'native-nocache')} | {ratio(med, config, workload, 'none')} "
                f"| {m['p50']:.3f} | {m['p99']:.3f} | {added} | {m['envoy_cpu']:.0%} "
                f"| {m['rss'] / MIB:.1f} | {m['alloc'] / MIB:.1f} ({m['alloc_delta'] / MIB:+.1f}) "
                f"| {answers} | {'; '.join(notes)} |"
            )
    return "\n".join(rows)


def decision_table(run_root, med):
    """The decision alone (bench/decision, native) beside a request's cost inside Envoy."""
    path = os.path.join(run_root, "decision.env")
    if not os.path.exists(path):
        return ""
    native = read_env(path)
    rows = [
        "The decision alone: `request::evaluate` natively on Envoy's core (bench/decision), against "
        "what a request costs inside Envoy over `wasm-noop` (1 / req/s, workload (a)'s `wasm-noop` "
        "row as the base).",
        "",
        "| workload | decision, native µs | request in Envoy over `wasm-noop`, µs |",
        "|---|--:|--:|",
    ]
    base = med.get(("wasm-noop", "a"))
    for workload in ("a", "c-cheap", "d"):
        if workload not in native:
            continue
        m = med.get(("jwt-relay", workload))
        inside = "n/a"
        if m and base and workload != "d":
            inside = f"{1e6 / m['rps'] - 1e6 / base['rps']:.0f}"
        rows.append(f"| {WORKLOADS[workload]} | {float(native[workload]) / 1000:.1f} | {inside} |")
    return "\n".join(rows)


def goals(med, lat):
    def vs(workload, base, base_workload=None):
        return rps_ratio(med, ("jwt-relay", workload), (base, base_workload or workload))

    def check(label, value, target, fmt):
        if value is None:
            return f"| {label} | not measured | {target[0]} | |"
        ok = value >= target[1] if target[2] == ">=" else value <= target[1]
        return f"| {label} | {fmt(value)} | {target[0]} | {'met' if ok else '**not met**'} |"

    # At a fixed rate when measured: under wrk's closed loop, p99 mostly reflects throughput.
    p99 = latency_added(lat, "jwt-relay", "p99")
    p99_label = "p99 added over no filter, cached path (a), fixed rate"
    if p99 is None:
        p99 = paired(med, ("jwt-relay", "a"), ("none", "a"), lambda x, y: x["p99"] - y["p99"])
        p99_label = "p99 added over no filter, cached path (a), wrk at full load"
    times = lambda v: f"{v:.2f}×"
    rows = [
        "| goal (issue 4) | measured | target | |",
        "|---|--:|--:|---|",
        check("(a) repeated token vs native jwt_authn with cache", vs("a", "native"), ("≥ 1.00×", 1.0, ">="), times),
        check("(a) repeated token vs no filter", vs("a", "none"), ("≥ 0.80×", 0.8, ">="), times),
        check("(b) cold RS256 vs native jwt_authn without cache", vs("b", "native-nocache"), ("≥ 0.25×", 0.25, ">="), times),
        check("(c) garbage flood, bad signatures, vs (a)", vs("c-sig", "jwt-relay", "a"), ("≥ 0.90×", 0.9, ">="), times),
        check("(c) garbage flood, unknown kid / not a JWT, vs (a)", vs("c-cheap", "jwt-relay", "a"), ("≥ 0.90×", 0.9, ">="), times),
        check(p99_label, p99, ("≤ 0.100 ms", 0.1, "<="), lambda v: f"{v:+.3f} ms"),
    ]
    return "\n".join(rows)


def machine(bench):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    mem = read_colon("/proc/meminfo").get("MemTotal", "? kB")
    mem_gib = int(mem.split()[0]) / 1024 / 1024
    return (
        f"- Date: {bench['date']}\n"
        f"- Machine: {os.cpu_count()} cores (`nproc`), {model}, {mem_gib:.0f} GiB, "
        f"Linux {platform.release()}\n"
        f"- Envoy {bench['envoy_version']}\n"
        f"- jwt-relay at {bench['git']}; `.wasm` {int(bench['wasm_bytes']):,} bytes "
        f"(SHA-256 {bench['wasm_sha256']}…)\n"
        f"- {bench['runs']} runs of {bench['duration']} s (after {bench['warmup']} s of warm-up) per row, "
        f"medians; {bench['connections']} connections; {int(bench['tokens']):,} tokens per token file; "
        f"`make bench` took {int(bench['elapsed']) // 60} min {int(bench['elapsed']) % 60} s"
    )


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "line":
        line(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "latency-line":
        latency_line(sys.argv[2])
        return
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "table":
        sys.exit(__doc__)
    run_root = sys.argv[2]
    bench = read_env(os.path.join(run_root, "bench.env"))
    med = collect(run_root)
    lat = collect_latency(run_root)
    latency = latency_table(lat, bench)
    decision = decision_table(run_root, med)
    text = (
        f"{machine(bench)}\n\n{table(med)}\n\n"
        + (f"{latency}\n\n" if latency else "")
        + (f"{decision}\n\n" if decision else "")
        + f"{goals(med, lat)}\n"
    )
    busiest = max((m["other_cpu"] for m in med.values()), default=0)
    if busiest > 0.1:
        text = (
            f"**The machine was not quiet:** other processes took up to {busiest:.0%} of a core "
            "during these runs (column notes), so the figures are lower and noisier than on an "
            "idle machine; the ratios, measured side by side, suffer less.\n\n" + text
        )
    print()
    print(text)
    output = sys.argv[3] if len(sys.argv) == 4 else ""
    if output:
        doc = open(output).read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{output} has no {BEGIN} ... {END} section to write the results into")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(output, "w") as f:
            f.write(f"{head}{BEGIN}\n{text}{END}{tail}")
        print(f"results written to {output}")


if __name__ == "__main__":
    main()
