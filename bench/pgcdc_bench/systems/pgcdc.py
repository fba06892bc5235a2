"""pgcdc itself: `pgcdc` (at-least-once), `pgcdc-eos` (delivery = "exactly_once") and
`pgcdc-cdc` (the snapshot as a first start with cdc = true reads it)."""
from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from ..common import free_port, log, run
from ..measure import kafka_result, result, wait_kafka
from ..process import Proc


class Pgcdc:
    """Writes each run's configuration and runs the binary; remembers whether it accepts
    exactly-once and where the running one serves its metrics."""

    def __init__(self, bench):
        self.bench = bench
        self.eos_note = None
        self.metrics_port = None

    def config(self, d: Path, wl, system: str, prefix: str, snapshot: bool, tables=None,
               publication=None) -> Path:
        tables = tables or wl.qualified
        lines = [
            'shutdown_timeout = "30s"',
            "[source]",
            f'url = "{self.bench.env.pg_url}"',
            "tables = [" + ", ".join(f'"{t}"' for t in tables) + "]",
            f"cdc = {'false' if snapshot and system != 'pgcdc-cdc' else 'true'}",
            f"snapshot = {'true' if snapshot else 'false'}",
            f'publication_name = "{publication or wl.publication()}"',
            f'slot_name = "{self.bench.slot(system)}"',
            "[sink.kafka]",
            f'brokers = "{self.bench.kafka.brokers}"',
            f'topic_prefix = "{prefix}"',
        ]
        if system == "pgcdc-eos":
            lines.append('delivery = "exactly_once"')
        self.metrics_port = free_port()
        lines += ["[offsets]", f'path = "{d}/offsets.json"',
                  "[metrics]", f'listen = "127.0.0.1:{self.metrics_port}"']
        cfg = d / "pgcdc.toml"
        cfg.write_text("\n".join(lines) + "\n")
        (d / "offsets.json").unlink(missing_ok=True)  # every run starts from nothing
        return cfg

    def replication_socket(self) -> dict:
        """What the running pgcdc's metrics say of its replication socket: bytes per TCP segment
        (about one message per segment is the walsender's slow state; docs/benchmarks.md, "Where
        streaming time goes") and the naps of 1 ms it took holding back a reserve of that socket.
        Empty when the binary does not export the counters."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("pgcdc_replication_received_bytes_total",
                        "pgcdc_replication_received_segments_total",
                        "pgcdc_replication_reserve_naps_total"):
                values[name] = float(value)
        out = {}
        segments = values.get("pgcdc_replication_received_segments_total", 0)
        if segments:
            out["segment_bytes"] = values["pgcdc_replication_received_bytes_total"] / segments
        if "pgcdc_replication_reserve_naps_total" in values:
            out["reserve_naps"] = values["pgcdc_replication_reserve_naps_total"]
        return out

    def start_profile(self, proc: Proc, d: Path):
        """--profile: system-wide `perf record -a -g` while pgcdc runs, so pgcdc's threads, the
        walsender and the broker all show (CPU and RSS of that run include perf's own cost)."""
        pid = proc.pid
        if proc.time_file:  # the pid is GNU time's: pgcdc is its child
            for _ in range(50):
                try:
                    pid = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
                    break
                except (OSError, IndexError, ValueError):
                    time.sleep(0.01)
        p = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "499", "-o", str(d / "perf.data")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p.pgcdc_pid = pid
        return p

    def stop_profile(self, perf: subprocess.Popen, d: Path):
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait(10)
        data = d / "perf.data"
        reports = (
            ("perf-by-process.txt", ["--sort", "comm,pid", "--no-children"]),
            # Self time only, as a share of pgcdc's samples: the build has no frame pointers,
            # so call chains are not reliable.
            ("perf-pgcdc-self.txt", ["--pid", str(perf.pgcdc_pid), "--sort", "comm,dso,symbol",
                                     "--no-children", "--percentage", "relative"]),
        )
        for name, extra in reports:
            p = run(["perf", "report", "-i", data, "--stdio", "--percent-limit", "0.5", "-g", "none",
                     *extra], check=False, timeout=600)
            (d / name).write_text(p.stdout + p.stderr[-2000:])
        log(f"profile: {d}/perf-*.txt")

    def eos_supported(self, d: Path, wl, tables=None, publication=None) -> str | None:
        """None when pgcdc accepts delivery = "exactly_once", else the reason. `tables`: the run's
        own (a latency workload has none in `wl`, and the check fails on an empty table list)."""
        if self.eos_note is not None:
            return self.eos_note or None
        cfg = self.config(d, wl, "pgcdc-eos", "eos-check", snapshot=False, tables=tables,
                          publication=publication)
        p = run([self.bench.pgcdc_bin, "check", "-c", cfg], check=False, timeout=120)
        msg = (p.stderr + p.stdout).strip()
        if p.returncode == 2 or "delivery" in msg and p.returncode != 0:
            line = next((l for l in msg.splitlines() if "delivery" in l), msg.splitlines()[-1] if msg else "")
            line = re.sub(r"configuration error in \S+: ", "", line)
            self.eos_note = f'`pgcdc check` rejects delivery = "exactly_once" (exit {p.returncode}: {line.strip()})'
        else:
            self.eos_note = ""
        return self.eos_note or None

    def run(self, system, wl) -> tuple[dict, list[str]]:
        d = self.bench.rundir(system, wl)
        if system == "pgcdc-eos":
            why = self.eos_supported(d, wl)
            if why:
                return result(system, wl, "skipped", why), []
        snapshot = wl.kind == "snapshot"
        # Snapshot only (cdc = false) exits once every row is delivered; with the stream it runs
        # until stopped once every record arrived.
        exits = snapshot and system != "pgcdc-cdc"
        prefix = f"{system}-{wl.name}"
        topics = [f"{prefix}.{q}" for q in wl.qualified]
        self.bench.kafka.create(topics)
        cfg = self.config(d, wl, system, prefix, snapshot)
        tomb = 0 if snapshot else wl.dels
        expected = wl.changes + tomb
        cpu0 = self.bench.env.server_cpu()
        proc = Proc([self.bench.pgcdc_bin, "run", "-c", cfg], d / "pgcdc.log", timed=exits)
        perf = self.start_profile(proc, d) if self.bench.args.profile else None
        try:
            c = wait_kafka(self.bench, proc, topics, expected, wl, expect_exit=exits)
        except BaseException:
            proc.stop(10)
            raise
        finally:
            if perf:
                self.stop_profile(perf, d)
        note = "default settings"
        if exits:
            note += "; cdc = false (snapshot only, exits when done)"
        elif snapshot:
            note += ("; cdc = true (a first start: watermark chunks beside the stream), stopped "
                     "once every row arrived; it makes its slot at start")
        r = kafka_result(self.bench, system, wl, proc, c, expected, cpu0, note=note)
        if not snapshot:
            socket_seen = self.replication_socket()
            if socket_seen.get("segment_bytes"):
                segment = r["segment_bytes"] = socket_seen["segment_bytes"]
                r["note"] += f"; replication socket: {segment:,.0f} bytes per TCP segment"
            if "reserve_naps" in socket_seen and r.get("seconds"):
                naps = r["reserve_naps"] = socket_seen["reserve_naps"]
                r["note"] += (f", held back a reserve for {naps:,.0f} naps of 1 ms "
                              f"({naps / 1000 / r['seconds']:.0%} of the run)")
        proc.stop()
        if exits and proc.exit_code not in (0, None):
            r["note"] += f"; exit {proc.exit_code}"
        if system == "pgcdc-eos":
            r["note"] += '; delivery = "exactly_once" (transaction_interval default), counted read_committed'
            self.bench.kafka.delete([f"{prefix}._offsets"])  # its positions topic (sink.kafka.offsets_topic)
        return r, topics

    def start_live(self, system, wl, d: Path, tables, publication, tbl):
        """The latency workload's pgcdc, streaming `tables` until stopped: (None, topics, proc),
        or (a skipped result, [], None)."""
        if system == "pgcdc-eos":
            why = self.eos_supported(d, wl, tables=tables, publication=publication)
            if why:
                return result(system, wl, "skipped", why), [], None
        prefix = f"{system}-lat"
        topics = [f"{prefix}.public.{tbl}"]
        self.bench.kafka.create(topics)
        cfg = self.config(d, wl, system, prefix, False, tables=tables, publication=publication)
        return None, topics, Proc([self.bench.pgcdc_bin, "run", "-c", cfg], d / "pgcdc.log")
