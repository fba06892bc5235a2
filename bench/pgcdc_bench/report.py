"""The report of a run: bench/results/<date>[-quick].md beside its .json, and the chart
(bench/plot.py) as .png."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from .common import ALL_SYSTEMS, BENCH_DIR, CACHE, SIZES, log, run
from .goals import aggregate, goals
from .workloads import Workload, make_workloads


def fmt_result(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['status'].upper()}: {r['note']}"
    if r["workload"] == "latency":
        return (f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms at {r['achieved_rate']:,.0f}/s, "
                f"rss {r['rss_mib']:.0f} MiB")
    return (f"{r['rate']:,.0f} rows/s ({r['seconds']:.2f}s), cpu {r['cpu_s']:.1f}s, "
            f"rss {r['rss_mib']:.0f} MiB")


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    osr = "?"
    try:
        osr = next(l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                   if l.startswith("PRETTY_NAME"))
    except (OSError, StopIteration):
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), mem=mem, os=osr, kernel=platform.release())


def n(x, fmt="{:,.0f}"):
    return "–" if x is None else fmt.format(x)


def kafka_cpu_cell(r: dict) -> str:
    """The broker's CPU during a run and, in parentheses, what its JIT compilers took of it: a
    broker still compiling its hot paths slows whichever system runs then."""
    cell = n(r.get("kafka_cpu_s"), "{:.1f}")
    if r.get("kafka_jit_s") is not None:
        cell += f" ({r['kafka_jit_s']:.1f})"
    return cell


def summary_table(workloads, results) -> list[str]:
    """Workloads x systems: end-to-end rows/s (peak RSS MiB), or the status; with --repeat the
    median round and [the range over the rounds]."""
    results = aggregate(results)
    systems = [s for s in ALL_SYSTEMS if any(r["system"] == s for r in results)]
    repeated = any(r.get("rounds") for r in results)
    title = "row changes/s end to end (peak RSS MiB)" + (
        ", median of the rounds [lowest-highest]" if repeated else "")
    L = [f"## Summary: {title}", "",
         "| workload | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
    for w in workloads:
        if w.kind == "latency":
            continue
        cells = []
        for s in systems:
            r = next((r for r in results if r["workload"] == w.name and r["system"] == s), None)
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                spread = f" [{r['range'][0]:,.0f}-{r['range'][1]:,.0f}]" if r.get("rounds") else ""
                cells.append(f"{r['rate']:,.0f} ({r['rss_mib']:.0f}){spread}")
            else:
                cells.append(r["status"])
        L.append(f"| {w.name} | " + " | ".join(cells) + " |")
    lat = [r for r in results if r["workload"] == "latency"]
    if lat:
        L.append("| latency p50 / p99 ms | " + " | ".join(
            next((f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f}"
                  + (f" [p99 {r['range'][0]:.0f}-{r['range'][1]:.0f}]" if r.get("rounds") else "")
                  if r["status"] == "ok" else r["status"]
                  for r in lat if r["system"] == s), "") for s in systems) + " |")
    L.append("")
    return L


def system_label(r: dict) -> str:
    return r["system"] + (f" (round {r['round']})" if r.get("round") else "")


def write_report(path: Path, meta: dict, workloads: list[Workload], results: list[dict], chart: str | None):
    L = []
    L.append(f"# pgcdc benchmark, {meta['date']}")
    L.append("")
    L.append(f"Mode: **{meta['mode']}**. {meta['load_note']}")
    L.append("")
    m = meta["machine"]
    L.append(f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem']}, {m['os']}, Linux {m['kernel']}. "
             f"Load average at start {meta['load_start']}, at end {meta['load_end']}.")
    L.append("")
    s = meta["pg_settings"]
    L.append(f"PostgreSQL {s['server_version']} (scripts/dev-env): fsync={s['fsync']}, "
             f"full_page_writes={s['full_page_writes']}, synchronous_commit={s['synchronous_commit']}, "
             f"wal_writer_delay={s['wal_writer_delay']}, shared_buffers={s['shared_buffers']}, "
             f"max_wal_size={s['max_wal_size']}, track_commit_timestamp={s['track_commit_timestamp']}. "
             f"Kafka {meta['kafka_version']} (one KRaft node, topics with 1 partition and "
             f"message.timestamp.type=LogAppendTime).")
    L.append("")
    L.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()))
    L.append("")
    L.append("Command: `" + meta["command"] + "`")
    L.append("")
    L.append("## Workloads")
    L.append("")
    for w in workloads:
        L.append(f"- `{w.name}`: {w.desc}" + (f"; {w.ins:,} inserts, {w.upd:,} updates, {w.dels:,} deletes" if w.kind == "stream" else ""))
    L.append("")
    L.append("Throughput = row changes / (LogAppendTime of the last record − launch of the system), "
             "replaying a backlog that every system reads from its own slot; *steady* = row changes "
             "/ (last − first record time), i.e. without start-up; *first record after* = first "
             "record's LogAppendTime − launch (start-up: JVM, connections, slot checks). For "
             "pg_recvlogical and COPY: "
             "row changes / wall time of the process. CPU and peak RSS are the system's own "
             "process; PG CPU and Kafka CPU are the servers' CPU during the same run; (JIT) is "
             "the part of the broker's CPU its JIT compilers took (a broker still compiling its "
             "hot paths slows whichever system runs then).")
    L.append("")
    if chart:
        L.append(f"![chart]({chart})")
        L.append("")
    L += summary_table(workloads, results)
    kafka_col = "Kafka CPU s (JIT)" if any("kafka_jit_s" in r for r in results) else "Kafka CPU s"
    for w in workloads:
        rows = [r for r in results if r["workload"] == w.name]
        if not rows:
            continue
        L.append(f"## {w.name}")
        L.append("")
        if w.kind == "latency":
            L.append("| system | status | probes | achieved rate/s | p50 ms | p99 ms | max ms | CPU s | peak RSS MiB | PG CPU s | " + kafka_col + " | note |")
            L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                L.append(f"| {system_label(r)} | {r['status']} | {n(r.get('row_changes'))} | {n(r.get('achieved_rate'))} | "
                         f"{n(r.get('p50_ms'), '{:.1f}')} | {n(r.get('p99_ms'), '{:.1f}')} | {n(r.get('max_ms'), '{:.1f}')} | "
                         f"{n(r.get('cpu_s'), '{:.1f}')} | {n(r.get('rss_mib'), '{:.1f}')} | {n(r.get('pg_cpu_s'), '{:.1f}')} | "
                         f"{kafka_cpu_cell(r)} | {r['note']} |")
        else:
            L.append("| system | status | row changes | records (expected) | seconds | rows/s | first record after s | steady rows/s | CPU s | peak RSS MiB | PG CPU s | " + kafka_col + " | avg value B | note |")
            L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                rec = f"{n(r.get('records'))} ({n(r.get('expected_records'))})" if r.get("records") is not None else "–"
                L.append(f"| {system_label(r)} | {r['status']} | {n(r['row_changes'])} | {rec} | {n(r.get('seconds'), '{:.2f}')} | "
                         f"{n(r.get('rate'))} | {n(r.get('first_s'), '{:.2f}')} | {n(r.get('steady_rate'))} | {n(r.get('cpu_s'), '{:.1f}')} | "
                         f"{n(r.get('rss_mib'), '{:.1f}')} | {n(r.get('pg_cpu_s'), '{:.1f}')} | {kafka_cpu_cell(r)} | "
                         f"{n(r.get('avg_value'))} | {r['note']} |")
        L.append("")
    L.append("## Goals (issue 7), from this run" + (
        " (median rounds)" if any(r.get("round", 1) > 1 for r in results) else ""))
    L.append("")
    L += goals(aggregate(results), results)
    L.append("")
    path.write_text("\n".join(L) + "\n")


def render_chart(json_path: Path) -> str | None:
    venv_py = CACHE / "venv" / "bin" / "python"
    if not venv_py.exists():
        return None
    png = json_path.with_suffix(".png")
    p = run([venv_py, BENCH_DIR / "plot.py", json_path, png], check=False, timeout=300)
    if p.returncode != 0:
        log(f"chart failed: {p.stderr[-500:]}")
        return None
    return png.name


def rerender(json_path: Path):
    data = json.loads(json_path.read_text())
    names = []
    for r in data["results"]:
        if r["workload"] not in names:
            names.append(r["workload"])
    sz = {k: v[0] for k, v in SIZES.items()}
    sz.update(data.get("sizes", {}))
    workloads = make_workloads(names, sz)
    chart = render_chart(json_path)
    write_report(json_path.with_suffix(".md"), data["meta"], workloads, data["results"], chart)
    print(json_path.with_suffix(".md"))
