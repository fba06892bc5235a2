"""The benchmark's PostgreSQL and Kafka, started by scripts/dev-env, and the lock that keeps a
second bench off them."""
from __future__ import annotations

import fcntl
import os
import re
import shlex
from pathlib import Path

from .common import REPO, BenchError, log, run
from .process import jit_cpu, proc_cpu, tree_cpu


class Env:
    def __init__(self, dev_dir: Path, keep: bool):
        self.dev_dir = dev_dir
        self.keep = keep
        self.vars: dict[str, str] = {}

    def devenv(self, *args, timeout=300) -> str:
        env = dict(os.environ, PGCDC_DEV_DIR=str(self.dev_dir))
        p = run([REPO / "scripts" / "dev-env", *args], env=env, timeout=timeout)
        return p.stdout

    def take_lock(self):
        """Two benches on one environment pull it down under each other: one's `dev-env up`
        reuses or replaces the servers the other is measuring. The lock sits beside the
        environment's directory (`down` deletes the directory) and lasts as long as this
        process."""
        path = Path(str(self.dev_dir) + ".lock")
        if os.environ.get("PGCDC_BENCH_LOCK_HELD") == str(self.dev_dir):
            return  # bench/run took it on a descriptor this process inherited
        self._lock = open(path, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"another bench/run is using the environment in {self.dev_dir} "
                             f"(it holds {path}): wait for it, or give this one its own --dev-dir")

    def up(self):
        log(f"starting PostgreSQL and Kafka in {self.dev_dir}")
        out = self.devenv("up")
        for line in out.splitlines():
            m = re.match(r"export (\w+)=(.*)", line.strip())
            if m:
                self.vars[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
        self.pg_url = self.vars["PGCDC_PG_URL"]
        self.brokers = self.vars["PGCDC_KAFKA_BROKERS"]
        self.pg_bin = Path(self.vars.get("PGCDC_PG_BIN", "/usr/lib/postgresql/15/bin"))
        m = re.match(r"postgres://(\w+)@([\d.]+):(\d+)/(\w+)", self.pg_url)
        if not m:
            raise BenchError(f"cannot parse {self.pg_url}")
        self.pg_user, self.pg_host, self.pg_port, self.pg_db = m.groups()
        # Commit timestamps for the latency measure; room for big backlogs without forced
        # checkpoints in the middle of a run. Both need a restart.
        self.sql("alter system set track_commit_timestamp = on", db="postgres")
        self.sql("alter system set max_wal_size = '8GB'", db="postgres")
        self.devenv("pg-restart", "fast")
        self.settings = {k: self.sql(f"show {k}").strip() for k in (
            "server_version", "synchronous_commit", "wal_writer_delay", "fsync",
            "full_page_writes", "track_commit_timestamp", "shared_buffers", "max_wal_size",
            "wal_sender_timeout", "ssl")}
        log(f"PostgreSQL {self.pg_url}, Kafka {self.brokers}")

    def down(self):
        if self.keep:
            log(f"keeping the environment in {self.dev_dir} (scripts/dev-env down with "
                f"PGCDC_DEV_DIR={self.dev_dir} stops it)")
            return
        try:
            self.devenv("down", timeout=120)
        except Exception as e:  # noqa: BLE001 - teardown is best effort
            log(f"dev-env down: {e}")

    def psql_argv(self, db=None):
        return [self.pg_bin / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                "-h", self.pg_host, "-p", self.pg_port, "-U", self.pg_user, "-d", db or self.pg_db]

    def sql(self, sql: str, db=None, timeout=3600) -> str:
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        return run(self.psql_argv(db) + ["-c", sql], env=env, timeout=timeout).stdout

    def sql_file(self, text: str, timeout=3600) -> str:
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        return run(self.psql_argv(), input=text, env=env, timeout=timeout).stdout

    def conninfo(self) -> str:
        return f"host={self.pg_host} port={self.pg_port} user={self.pg_user} dbname={self.pg_db}"

    def pg_pid(self) -> int | None:
        data = self.dev_dir / "pg"
        pidfile = (data.resolve() if data.is_symlink() else data) / "data" / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kafka_pid(self) -> int | None:
        try:
            return int((self.dev_dir / "kafka" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def server_cpu(self) -> tuple[float, float, float]:
        """(PostgreSQL's CPU, the broker's CPU, the broker's JIT compilers' part of it) so far."""
        pg, kafka = self.pg_pid(), self.kafka_pid()
        return (tree_cpu(pg) if pg else 0.0, proc_cpu(kafka, children=True) if kafka else 0.0,
                jit_cpu(kafka) if kafka else 0.0)

    def server_cpu_since(self, start, end=None) -> dict:
        """The servers' CPU between two server_cpu() readings (`end` defaults to now), as
        result() fields."""
        end = end or self.server_cpu()
        return dict(pg_cpu_s=end[0] - start[0], kafka_cpu_s=end[1] - start[1],
                    kafka_jit_s=end[2] - start[2])
