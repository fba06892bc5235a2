"""The raw producer (kbench produce): how fast the broker takes the same records as pgcdc's or
Debezium's run of the workload (the Kafka limit)."""
from __future__ import annotations

import json

from ..measure import result
from ..process import Proc


def run(bench, wl, sample_from: dict | None) -> dict:
    if not sample_from:
        return result("raw_producer", wl, "skipped",
                      "needs the records of a pgcdc or Debezium run of the same workload to copy their sizes")
    d = bench.rundir("raw_producer", wl)
    topics = [f"raw-{wl.name}.{i}" for i in range(len(sample_from["topics"]))]
    bench.kafka.create(topics)
    n = sample_from["records"]
    cpu0 = bench.env.server_cpu()
    argv = [bench.kafka.kbench, "produce", "-b", bench.kafka.brokers, "--count", n,
            "--sample", 20000, "--sample-topics", ",".join(sample_from["topics"]),
            "--timeout", bench.sz["run_timeout"], *topics]
    proc = Proc(argv, d / "produce.json", timed=True)
    ok = proc.wait(bench.sz["run_timeout"] + 30)
    servers = bench.env.server_cpu_since(cpu0)
    try:
        out = json.loads(proc.log_path.read_text().strip().splitlines()[-1])
    except (ValueError, IndexError, OSError):
        out = None
    if not ok or proc.exit_code != 0 or not out:
        proc.stop(5)
        bench.kafka.delete(topics)
        return result("raw_producer", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
    c = bench.kafka.count(topics)
    bench.kafka.delete(topics)
    status = "ok" if c["records"] >= n else "failed"
    return result("raw_producer", wl, status,
                  f"{n:,} records ({sample_from['system']}'s count for this workload) cycling "
                  f"through {out['sample']:,} of its records, pgcdc's producer settings",
                  records=c["records"], expected_records=n, seconds=out["seconds"],
                  rate=wl.changes / out["seconds"], cpu_s=proc.cpu,
                  rss_mib=proc.hwm_kib / 1024.0, **servers,
                  avg_key=c["key_bytes"] / max(1, c["records"]),
                  avg_value=c["value_bytes"] / max(1, c["records"] - c["nulls"]))
