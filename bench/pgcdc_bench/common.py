"""What every part of the benchmark shares: paths, the system and size tables, logging, errors
and running a command."""
from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
CACHE = Path(os.environ.get("PGCDC_CACHE_DIR", str(Path.home() / ".cache" / "pgcdc"))) / "bench"

# pgcdc-cdc: the snapshot workload with cdc = true, as a first start reads it (watermark chunks
# beside the stream); the other workloads run pgcdc with cdc = true already.
ALL_SYSTEMS = ["pg_recvlogical", "copy", "pgcdc", "pgcdc-eos", "pgcdc-cdc", "raw_producer", "debezium",
               "conduit"]
PGCDC_SYSTEMS = ("pgcdc", "pgcdc-eos", "pgcdc-cdc")
LIMIT_SYSTEMS = {"pg_recvlogical", "copy", "raw_producer"}
DEFAULT_WORKLOADS = ["snapshot", "stream-1", "stream-100", "stream-10000", "toast", "tables", "latency"]

SIZES = {
    # name: (full, quick)
    "snapshot_rows": (5_000_000, 200_000),
    "stream_changes": (1_000_000, 100_000),
    "toast_changes": (100_000, 5_000),
    "toast_kb": (10, 10),
    "tables": (50, 50),
    "tables_changes": (500_000, 100_000),
    "tables_txn": (100, 100),
    "toast_txn": (100, 100),
    "latency_rate": (10_000, 1_000),
    "latency_seconds": (30, 10),
    "latency_warmup": (10, 5),
    "run_timeout": (3600, 600),
    "stall_timeout": (180, 120),
}


def log(msg: str) -> None:
    print(f"bench: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(argv, check=True, timeout=600, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError(f"{shlex.join(map(str, argv))[:200]} exited {p.returncode}: "
                         f"{(p.stderr or p.stdout).strip()[-800:]}")
    return p


def read_peer_status() -> dict:
    """What bench/install-peers installed: {name: "ok <version>" or "failed <reason>"}."""
    out = {}
    d = CACHE / "status"
    if d.is_dir():
        for f in d.iterdir():
            out[f.name] = f.read_text().strip()
    return out


def git_describe() -> str:
    p = run(["git", "-C", REPO, "describe", "--always", "--dirty"], check=False)
    return p.stdout.strip() or "?"


def kafka_version() -> str:
    pom = (REPO / "tools" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka.version>(.*?)</kafka.version>", pom)
    return m.group(1) if m else "?"
