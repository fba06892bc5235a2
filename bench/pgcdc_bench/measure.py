"""What a run measured: the records a system wrote (wait_kafka, counted read_committed), the
result row built from them, and how the walsender's socket sent meanwhile."""
from __future__ import annotations

import re
import subprocess
import threading
import time

from .common import BenchError, log
from .process import Proc


def result(system, wl, status, note="", **kw) -> dict:
    r = dict(system=system, workload=wl.name, status=status, note=note, row_changes=wl.changes)
    r.update(kw)
    return r


def wait_kafka(bench, proc: Proc, topics, expected: int, wl, expect_exit=False) -> dict:
    """Poll until the topics hold `expected` records (read_committed count), the process
    dies, or nothing moves for stall_timeout. Returns the final count."""
    stall = bench.sz["stall_timeout"]
    deadline = time.time() + bench.sz["run_timeout"]
    last, last_move = -1, time.time()
    counted = None
    cpu_end = None
    while True:
        alive = proc.alive()
        if alive:
            proc.sample()
        try:
            hw = bench.kafka.hw(topics)
        except BenchError as e:
            log(f"{wl.name}: watermarks: {e}")
            hw = max(last, 0)
        if hw != last:
            last, last_move = hw, time.time()
        if hw >= expected:
            # The servers' CPU is read before the count: counting reads every record back
            # from the broker, which is the bench's work, not the system's.
            cpu_end = bench.env.server_cpu()
            c = bench.kafka.count(topics)
            if c["records"] >= expected:
                if alive:
                    proc.sample()
                counted = c
                if expect_exit and alive and not proc.wait(120):
                    log(f"{wl.name}: all records arrived but the process did not exit in 120s")
                break
        if not alive and not expect_exit:
            break
        if not alive and expect_exit:
            cpu_end = bench.env.server_cpu()
            counted = bench.kafka.count(topics)
            break
        if time.time() - last_move > stall:
            log(f"{wl.name}: no progress for {stall}s at {hw}/{expected} records")
            break
        if time.time() > deadline:
            log(f"{wl.name}: run timeout")
            break
        time.sleep(0.5)
    if counted is None:
        cpu_end = bench.env.server_cpu()
        counted = bench.kafka.count(topics)
    counted["server_cpu_end"] = cpu_end
    return counted


def kafka_result(bench, system, wl, proc: Proc, c: dict, expected: int, cpu0, note="") -> dict:
    servers = bench.env.server_cpu_since(cpu0, c.get("server_cpu_end"))
    ok = c["records"] >= expected
    t_end = c["max_ts"] / 1000.0 if c["max_ts"] > 0 else None
    secs = (t_end - proc.t_launch) if t_end else None
    steady = None
    if c["records"] > 1 and c["max_ts"] > c["min_ts"]:
        steady = wl.changes / ((c["max_ts"] - c["min_ts"]) / 1000.0)
    status = "ok" if ok else "failed"
    if not ok:
        note = (note + "; " if note else "") + \
            f"only {c['records']:,} of {expected:,} records arrived" + \
            (f" (exit {proc.exit_code})" if proc.exit_code is not None else "") + \
            f"; log: {proc.log_path}"
        log(f"{system}/{wl.name} failed; log tail:\n{proc.tail()}")
    if c["ts_type"] not in ("LogAppendTime", "none"):
        note = (note + "; " if note else "") + f"timestamps are {c['ts_type']}"
    first = (c["min_ts"] / 1000.0 - proc.t_launch) if c["min_ts"] > 0 else None
    return result(system, wl, status, note, first_s=first,
                  records=c["records"], expected_records=expected, nulls=c["nulls"],
                  avg_key=c["key_bytes"] / max(1, c["records"]),
                  avg_value=c["value_bytes"] / max(1, c["records"] - c["nulls"]),
                  seconds=secs, rate=(wl.changes / secs) if (ok and secs) else None,
                  steady_rate=steady if ok else None, cpu_s=proc.cpu,
                  rss_mib=proc.hwm_kib / 1024.0,
                  **servers, log=str(proc.log_path))


def measure_until_delivered(bench, system, wl, argv, log_path, topics, expected: int, note: str,
                            live=False):
    """Launches a system that streams until it is stopped and, unless `live` (the latency workload
    keeps it running), waits for its records, stops it and returns (its result, None); live,
    returns (None, the process)."""
    cpu0 = bench.env.server_cpu()
    proc = Proc(argv, log_path)
    if live:
        return None, proc
    try:
        c = wait_kafka(bench, proc, topics, expected, wl)
    except BaseException:
        proc.stop(10)
        raise
    r = kafka_result(bench, system, wl, proc, c, expected, cpu0, note=note)
    proc.stop()
    return r, None

class WalSenderSocket:
    """How the walsender's socket sent while a system read: polls `ss -ti` for PostgreSQL's
    established connections every half second and keeps the one that sent the most. Its bytes per
    segment and the share of its busy time it waited on the reader's receive window tell whether
    the walsender's messages piled up and left together (a reader slower than the walsender, as
    `pg_recvlogical`) or left one per segment, each paid by the walsender (docs/benchmarks.md,
    "Where streaming time goes")."""

    FIELDS = re.compile(r"(bytes_sent|segs_out|busy|rwnd_limited):(\d+)")

    def __init__(self, port: str):
        self.port = port
        self.best: dict[str, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self):
        while not self.done.wait(0.5):
            try:
                out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{self.port} )"],
                                     capture_output=True, text=True, timeout=5).stdout
            except (OSError, subprocess.TimeoutExpired):
                return
            # Each socket: an address line, then an info line (tab-indented).
            for info in (l for l in out.splitlines() if l.startswith(("\t", " "))):
                f = {k: int(v) for k, v in self.FIELDS.findall(info)}
                if f.get("bytes_sent", 0) > self.best.get("bytes_sent", 0):
                    self.best = f

    def stop(self) -> str:
        self.done.set()
        self.thread.join(10)
        b = self.best
        if not b.get("segs_out") or b.get("bytes_sent", 0) < 1 << 20:
            return ""
        note = f"walsender socket: {b['bytes_sent'] / b['segs_out']:,.0f} bytes per segment"
        if b.get("busy"):
            note += f", waited on the reader's window {100 * b.get('rwnd_limited', 0) / b['busy']:.0f}% of its busy time"
        return note
