"""One bench run: the workloads in turn, each system on each, and the results as they come."""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from .common import ALL_SYSTEMS, LIMIT_SYSTEMS, PGCDC_SYSTEMS, BenchError, log, read_peer_status, run
from .env import Env
from .kafka import Kafka
from .measure import WalSenderSocket, result
from .process import Proc, write_back_page_cache
from .report import fmt_result
from .systems import conduit, copy_table, debezium, pg_recvlogical, raw_producer
from .systems.pgcdc import Pgcdc
from .workloads import LatencyWorkload, Workload


class Bench:
    def __init__(self, args, env: Env, kafka: Kafka, sz: dict, run_dir: Path):
        self.round = 1  # with --repeat: which round is running
        self.args, self.env, self.kafka, self.sz, self.run_dir = args, env, kafka, sz, run_dir
        self.results: list[dict] = []
        self.peers = read_peer_status()
        self.pgcdc_bin = Path(args.pgcdc_bin)
        self.pgcdc = Pgcdc(self)

    # -- helpers ---------------------------------------------------------------------------

    def slot(self, system):
        return "b_" + re.sub(r"[^a-z0-9]", "_", system)

    def create_slot(self, name):
        self.env.sql(f"select pg_create_logical_replication_slot('{name}', 'pgoutput')")

    def drop_bench_slots(self):
        self.env.sql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                     "where slot_name like 'b\\_%' and not active")

    def rundir(self, system, wl) -> Path:
        # A directory per round too: pgcdc's offsets file lives there, and a left-over one would
        # make the next round resume instead of reading everything again.
        d = self.run_dir / (f"{wl.name}-{system}" + (f"-r{self.round}" if self.round > 1 else ""))
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- one throughput workload --------------------------------------------------------------

    def throughput(self, wl: Workload, systems: list[str]):
        log(f"== {wl.name}: {wl.desc}")
        applicable = [s for s in systems if not (
            (s in ("copy", "pgcdc-cdc") and wl.kind != "snapshot") or
            (s == "pg_recvlogical" and wl.kind == "snapshot"))]
        self.drop_bench_slots()
        t0 = time.time()
        wl.prepare(self.env)
        log(f"{wl.name}: tables prepared in {time.time() - t0:.1f}s")
        streaming = wl.kind == "stream"
        if streaming:
            for s in applicable:
                if s in ("pg_recvlogical", "pgcdc", "pgcdc-eos", "debezium", "conduit"):
                    self.create_slot(self.slot(s))
            gen = wl.generate(self.env)
            endpos = self.env.sql("select pg_current_wal_lsn()").strip()
            log(f"{wl.name}: {wl.changes:,} changes written in {gen:.1f}s "
                f"({wl.changes / gen:,.0f}/s); backlog ends at {endpos}")
            # The updates and deletes left dead rows: vacuum them now, so an autovacuum of the
            # workload's tables does not land in one system's run (its CPU, and the cores it
            # takes, would be billed to that system alone).
            self.env.sql("vacuum analyze " + ", ".join(wl.tables), timeout=3600)
            self.env.sql("checkpoint")
        made_topics: list[str] = []
        sample_from = None
        order = [s for s in ALL_SYSTEMS if s in applicable and s != "raw_producer"]
        # With --repeat, rounds take turns at which system reads first (pgcdc's runs and the
        # limits; the peers, hours long at full size, keep their place): the same drain costs the
        # walsender more or less depending on who reads first (docs/benchmarks.md, "How it
        # measures"), and one order in every round would put that on one system.
        own = [s for s in order if s not in ("debezium", "conduit")]
        turn = (self.round - 1) % len(own) if own else 0
        order = own[turn:] + own[:turn] + [s for s in order if s in ("debezium", "conduit")]
        if "raw_producer" in applicable:
            order.insert(order.index("debezium") if "debezium" in order else len(order), "raw_producer")
        for s in order:
            write_back_page_cache()
            log(f"{wl.name}: running {s}")
            topics: list[str] = []
            sender = WalSenderSocket(self.env.pg_port) if streaming else None
            try:
                if s == "pg_recvlogical":
                    r = pg_recvlogical.run(self, wl, endpos)
                elif s == "copy":
                    r = copy_table.run(self, wl)
                elif s in PGCDC_SYSTEMS:
                    r, topics = self.pgcdc.run(s, wl)
                elif s == "raw_producer":
                    r = raw_producer.run(self, wl, sample_from)
                elif s == "debezium":
                    r, topics, _ = debezium.run(self, wl)
                elif s == "conduit":
                    r, topics, _ = conduit.run(self, wl)
                else:
                    raise BenchError(f"unknown system {s}")
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                r = result(s, wl, "failed", f"harness error: {e}")
            if sender:
                seen = sender.stop()
                if seen and r["status"] == "ok":
                    r["note"] = (r["note"] + "; " if r["note"] else "") + seen
            made_topics += topics
            if r["status"] == "ok" and s in ("pgcdc", "debezium") and sample_from is None:
                sample_from = dict(system=s, topics=topics, records=r["records"])
            self.results.append(r)
            log(f"{wl.name}: {s}: {fmt_result(r)}")
            self.save()
        self.kafka.delete(made_topics)
        self.drop_bench_slots()
        if streaming or wl.kind == "snapshot":
            self.env.sql("; ".join(f"drop table if exists {t}" for t in wl.tables))

    # -- latency ------------------------------------------------------------------------------

    def latency(self, wl: LatencyWorkload, systems: list[str]):
        log(f"== latency: {wl.desc}")
        for s in [x for x in systems if x not in LIMIT_SYSTEMS and x != "pgcdc-cdc"]:
            write_back_page_cache()
            log(f"latency: running {s}")
            try:
                r = self.latency_one(s, wl)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                r = result(s, wl, "failed", f"harness error: {e}")
            self.results.append(r)
            log(f"latency: {s}: {fmt_result(r)}")
            self.save()

    def latency_one(self, system: str, wl: LatencyWorkload) -> dict:
        d = self.rundir(system, wl)
        tbl = f"lat_{re.sub(r'[^a-z0-9]', '_', system)}"
        pub = f"bench_{tbl}"
        self.drop_bench_slots()
        self.env.sql(f"drop table if exists {tbl}; create table {tbl} (id bigserial primary key, "
                     f"v int not null, note text not null)")
        self.env.sql(f"drop publication if exists {pub}; create publication {pub} for table public.{tbl}")
        self.create_slot(self.slot(system))
        tables = [f"public.{tbl}"]
        proc: Proc | None = None
        topics: list[str] = []
        try:
            if system in ("pgcdc", "pgcdc-eos"):
                r, topics, proc = self.pgcdc.start_live(system, wl, d, tables, pub, tbl)
                if proc is None:
                    return r
            elif system == "debezium":
                r, topics, proc = debezium.run(self, wl, "no_data", tables, pub, "dbz-lat", live=True)
                if proc is None:
                    return r
            elif system == "conduit":
                r, topics, proc = conduit.run(self, wl, tables, pub, "cdt-lat", live=True)
                if proc is None:
                    return r
            else:
                raise BenchError(f"unknown system {system}")
            # Warm up: one row through, so the run measures a caught-up, connected pipeline.
            deadline = time.time() + 180
            self.env.sql(f"insert into {tbl} (v, note) values (0, 'warmup')")
            while self.kafka.hw(topics) < 1:
                if not proc.alive() or time.time() > deadline:
                    return result(system, wl, "failed", "the warm-up row never arrived: " +
                                  proc.tail(5).replace("\n", " | ")[-400:])
                time.sleep(0.5)
            def pgbench(v: int, secs: int, name: str):
                script = d / f"{name}.sql"
                script.write_text(f"insert into {tbl} (v, note) values ({v}, 'latency probe');\n")
                p = run([self.env.pg_bin / "pgbench", "-n", "-h", self.env.pg_host, "-p",
                         self.env.pg_port, "-U", self.env.pg_user, "-c", "4", "-j", "2",
                         "-R", str(wl.rate), "-T", str(secs), "-f", script, self.env.pg_db],
                        timeout=secs + 120)
                (d / f"{name}.log").write_text(p.stdout + p.stderr)
                return p
            # Warm-up at the same rate (v = 0, not measured): JIT, caches, batch sizes settle.
            pgbench(0, wl.warmup, "warmup")
            proc.sample()
            cpu_a = proc.cpu
            cpu0 = self.env.server_cpu()
            pgb = pgbench(1, wl.seconds, "measure")
            n = int(self.env.sql(f"select count(*) from {tbl}").strip())
            deadline = time.time() + 300
            while time.time() < deadline and proc.alive():
                # The high watermark counts transaction markers too: confirm by counting.
                if self.kafka.hw(topics) >= n and (
                        system != "pgcdc-eos" or self.kafka.count(topics)["records"] >= n):
                    break
                time.sleep(0.5)
            proc.sample()
            dump = d / "records.tsv"
            c = self.kafka.count(topics, dump=dump)
            servers = self.env.server_cpu_since(cpu0)
            commits = {}
            for line in self.env.sql(
                    f"select id, extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000 "
                    f"from {tbl} where v = 1").splitlines():
                i, ts = line.split("|")
                commits[int(i)] = float(ts)
            lat = []
            # Each probe's commit and Kafka times, for looking at when the tail happens.
            with open(d / "latency.tsv", "w") as out:
                out.write("id\tcommit_ms\tkafka_ms\tlatency_ms\n")
                for line in dump.read_text().splitlines():
                    key, ts = line.rsplit("\t", 1)
                    try:
                        k = json.loads(key)
                        i = int(k["id"] if isinstance(k, dict) else k)
                    except (ValueError, KeyError, TypeError):
                        continue
                    if i in commits:
                        lat.append(int(ts) - commits[i])
                        out.write(f"{i}\t{commits[i]:.3f}\t{ts}\t{lat[-1]:.3f}\n")
            if len(lat) < len(commits):
                return result(system, wl, "failed",
                              f"only {len(lat):,} of {len(commits):,} probe records found")
            lat.sort()
            pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]  # noqa: E731
            achieved = re.search(r"tps = ([\d.]+)", pgb.stdout)
            return result(system, wl, "ok",
                          f"pgbench -c 4 -R {wl.rate}, {wl.warmup}s warm-up + {wl.seconds}s; timestamps {c['ts_type']}",
                          row_changes=len(commits), records=c["records"],
                          achieved_rate=float(achieved.group(1)) if achieved else len(commits) / wl.seconds,
                          p50_ms=pct(50), p99_ms=pct(99), max_ms=lat[-1],
                          cpu_s=proc.cpu - cpu_a, rss_mib=proc.hwm_kib / 1024.0,
                          **servers)
        finally:
            if proc is not None:
                proc.stop()
            self.kafka.delete(topics + ([f"{system}-lat._offsets"] if system == "pgcdc-eos" else []))
            self.drop_bench_slots()
            self.env.sql(f"drop table if exists {tbl}; drop publication if exists {pub}")

    def save(self):
        (self.run_dir / "results.json").write_text(json.dumps(self.results, indent=1))
