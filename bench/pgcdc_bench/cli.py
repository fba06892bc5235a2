"""bench.py's command line: the options, the lock, the run, then the report."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path

from .common import (ALL_SYSTEMS, BENCH_DIR, CACHE, DEFAULT_WORKLOADS, SIZES, BenchError, git_describe,
                     kafka_version, log, read_peer_status, run)
from .env import Env
from .goals import aggregate
from .kafka import Kafka
from .report import machine_info, render_chart, rerender, write_report
from .runner import Bench
from .workloads import make_workloads


def main():
    ap = argparse.ArgumentParser(description=sys.modules[__package__].__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run every workload N times (rounds, one after the other); the summary and "
                         "the goals use each system's median round and show the range")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help="snapshot, stream-<txn size> (any size), toast, tables, latency")
    ap.add_argument("--rerender", metavar="RESULT.json",
                    help="only rewrite the report (.md, .png) of an earlier run from its .json")
    ap.add_argument("--pgcdc-bin")
    ap.add_argument("--pgcdc-desc", default=None,
                    help="what the pgcdc binary was built from (default: git describe of this repo)")
    ap.add_argument("--dev-dir", default="/tmp/pgcdc-bench-env")
    ap.add_argument("--keep-env", action="store_true", help="leave PostgreSQL and Kafka running")
    ap.add_argument("--profile", action="store_true",
                    help="perf record -g on each pgcdc run (perf-self.txt next to its log)")
    ap.add_argument("--results", default=str(BENCH_DIR / "results"))
    ap.add_argument("--work-dir", default=None, help="logs and configs of each run (default under the cache)")
    ap.add_argument("--load-note", default=None)
    for k in SIZES:
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=None)
    args = ap.parse_args()
    if args.rerender:
        rerender(Path(args.rerender))
        return
    if not args.pgcdc_bin:
        raise SystemExit("--pgcdc-bin is required (bench/run builds pgcdc and passes it)")

    sz = {k: (getattr(args, k) if getattr(args, k) is not None else v[1 if args.quick else 0])
          for k, v in SIZES.items()}
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ALL_SYSTEMS:
            raise SystemExit(f"unknown system {s}; known: {', '.join(ALL_SYSTEMS)}")
    workloads = make_workloads([w.strip() for w in args.workloads.split(",") if w.strip()], sz)

    # The environment's lock before anything is made (the run's directory) or checked, and before
    # the try below: its teardown would take the other bench's servers. Canonical, as bench/run's:
    # both name the lock after it (a trailing slash or a relative path must not give the two of
    # them different lock files).
    env = Env(Path(os.path.realpath(args.dev_dir)), args.keep_env)
    try:
        env.take_lock()
    except BenchError as e:
        raise SystemExit(f"bench: {e}")

    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    # A fresh directory per run: pgcdc's offsets file lives there, and a left-over one would make
    # pgcdc resume (and skip a finished snapshot).
    run_dir = Path(args.work_dir or CACHE / "runs" / dt.datetime.now().strftime("%Y-%m-%d-%H%M%S"))
    if run_dir.exists() and any(run_dir.iterdir()):
        raise SystemExit(f"{run_dir} is not empty; give another --work-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    kbench = CACHE / "bin" / "kbench"
    if not kbench.exists():
        raise SystemExit("kbench is missing: run bench/install-peers")

    load_start = open("/proc/loadavg").read().split()[:3]
    results = []
    bench = None
    try:
        env.up()
        kafka = Kafka(env.brokers, kbench, env.dev_dir / "kafka" / "data")
        kafka.warm_up(2_000_000 if not args.quick else 500_000, env.kafka_pid())
        bench = Bench(args, env, kafka, sz, run_dir)
        for round_ in range(1, args.repeat + 1):
            bench.round = round_
            if args.repeat > 1:
                log(f"round {round_} of {args.repeat}")
            for w in workloads:
                if w.kind == "latency":
                    bench.latency(w, systems)
                else:
                    bench.throughput(w, systems)
                if args.repeat > 1:
                    for r in bench.results:
                        r.setdefault("round", round_)
        results = bench.results
    except KeyboardInterrupt:
        log("interrupted")
        results = bench.results if bench else []
    finally:
        settings = getattr(env, "settings", {})
        env.down()

    peers = read_peer_status()
    versions = {
        "pgcdc": run([args.pgcdc_bin, "version"], check=False).stdout.strip() + f" ({args.pgcdc_desc or 'built from ' + git_describe()})",
        "librdkafka": peers.get("kbench", "?").removeprefix("ok ").removeprefix("librdkafka "),
        "Debezium": peers.get("debezium", "not installed").split("|")[0].removeprefix("ok "),
        "Conduit": peers.get("conduit", "not installed"),
    }
    meta = dict(
        date=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        mode="quick (smoke sizes)" if args.quick else "full",
        load_note=args.load_note or "",
        machine=machine_info(), load_start=" ".join(load_start),
        load_end=" ".join(open("/proc/loadavg").read().split()[:3]),
        pg_settings=settings or {k: "?" for k in ("server_version", "fsync", "full_page_writes",
                                                   "synchronous_commit", "wal_writer_delay",
                                                   "shared_buffers", "max_wal_size", "track_commit_timestamp")},
        kafka_version=kafka_version(), versions=versions,
        command="bench/run " + " ".join(shlex.quote(a) for a in sys.argv[1:] if not a.startswith("--pgcdc-")
                                        and a not in (args.pgcdc_bin, args.pgcdc_desc)),
    )
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / (stamp + ("-quick" if args.quick else ""))
    (base.with_suffix(".json")).write_text(json.dumps(
        dict(meta=meta, sizes=sz, results=results, aggregated=aggregate(results)), indent=1))
    chart = render_chart(base.with_suffix(".json")) if results else None
    write_report(base.with_suffix(".md"), meta, workloads, results, chart)
    log(f"report: {base.with_suffix('.md')}")
    print(base.with_suffix(".md"))
