"""pg_recvlogical: how fast PostgreSQL decodes the workload's WAL (the streaming limit)."""
from __future__ import annotations

from ..measure import result
from ..process import Proc


def run(bench, wl, endpos: str) -> dict:
    d = bench.rundir("pg_recvlogical", wl)
    cpu0 = bench.env.server_cpu()
    argv = [bench.env.pg_bin / "pg_recvlogical", "-d", bench.env.conninfo(),
            "--slot", bench.slot("pg_recvlogical"), "--start", "--no-loop",
            "-o", "proto_version=1", "-o", f"publication_names={wl.publication()}",
            "-E", endpos, "-f", "/dev/null"]
    proc = Proc(argv, d / "pg_recvlogical.log", timed=True)
    if not proc.wait(bench.sz["run_timeout"]):
        proc.stop(5)
        return result("pg_recvlogical", wl, "failed", "timed out")
    servers = bench.env.server_cpu_since(cpu0)
    secs = proc.t_exit - proc.t_launch
    if proc.exit_code != 0:
        return result("pg_recvlogical", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
    return result("pg_recvlogical", wl, "ok", "pgoutput decoded to /dev/null (up to the "
                  "backlog's end LSN)", seconds=secs, rate=wl.changes / secs, cpu_s=proc.cpu,
                  rss_mib=proc.hwm_kib / 1024.0, **servers)
