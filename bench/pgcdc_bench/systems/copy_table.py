"""COPY ... TO STDOUT through psql: how fast PostgreSQL reads the table (the snapshot limit)."""
from __future__ import annotations

from ..measure import result
from ..process import Proc


def run(bench, wl) -> dict:
    d = bench.rundir("copy", wl)
    cpu0 = bench.env.server_cpu()
    sql = "; ".join(f"copy {q} to stdout" for q in wl.qualified)
    # psql writes COPY's output to its stdout: /dev/null.
    argv = [*bench.env.psql_argv(), "-c", sql, "-o", "/dev/null"]
    proc = Proc(argv, d / "copy.log", timed=True)
    if not proc.wait(bench.sz["run_timeout"]):
        proc.stop(5)
        return result("copy", wl, "failed", "timed out")
    servers = bench.env.server_cpu_since(cpu0)
    if proc.exit_code != 0:
        return result("copy", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
    secs = proc.t_exit - proc.t_launch
    return result("copy", wl, "ok", "COPY ... TO STDOUT (text) through psql to /dev/null",
                  seconds=secs, rate=wl.changes / secs, cpu_s=proc.cpu,
                  rss_mib=proc.hwm_kib / 1024.0, **servers)
