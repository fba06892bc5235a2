#!/usr/bin/env python3
"""pgcdc benchmark driver (issue 7). Run it through bench/run; see docs/benchmarks.md.

Method, in short:
- One local PostgreSQL 15 and one Kafka broker (scripts/dev-env, own PGCDC_DEV_DIR, loopback).
- Throughput workloads are replayed from a backlog: before a workload's changes are written, one
  logical slot (pgoutput) per streaming system is created on the same publication, so every
  system reads exactly the same WAL, one system after the other. A run starts when the system's
  process is launched and ends at the broker's LogAppendTime of the last record in its topics;
  the records are counted (read_committed) to verify the run.
- Latency: with the system running and caught up, pgbench inserts single-row transactions at a
  fixed rate; latency = LogAppendTime of the record - commit time of its row
  (pg_xact_commit_timestamp, track_commit_timestamp = on).
- CPU seconds and peak RSS of the system's process come from /proc/<pid> (utime+stime, VmHWM)
  at the moment the last record is confirmed, or from GNU time when the process ends by itself.
  PostgreSQL's and the broker's CPU over the same run are reported beside it.
Every wait is bounded. Nothing here is fabricated: a system that fails gets its reason.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CACHE = Path(os.environ.get("PGCDC_CACHE_DIR", str(Path.home() / ".cache" / "pgcdc"))) / "bench"
TICK = os.sysconf("SC_CLK_TCK")

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


# ---------------------------------------------------------------------------------------------
# process accounting


def proc_cpu(pid: int, children=False) -> float:
    """utime+stime of a live process in seconds (plus reaped children's if asked)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14 -> index 11
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t / TICK


def jit_cpu(pid: int) -> float:
    """CPU seconds the JVM's JIT compiler threads (C1, C2) of process `pid` have used so far."""
    total = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            if not (task / "comm").read_text().startswith(("C1 Compiler", "C2 Compiler")):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, ValueError, IndexError):
            continue  # a compiler thread may come and go
    return total


def proc_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def write_back_page_cache() -> None:
    """Before each run: the broker's and PostgreSQL's files are on disk, and the previous run left
    up to gigabytes of them dirty in the page cache. The kernel writes those back within about
    30 s, during whichever run comes next: in one round of the 50 tables, the system that ran
    second cost the broker twice the CPU of the one that ran first (1.6 against 0.8 s), whichever
    it was. So every run starts with nothing left to write back."""
    t0 = time.monotonic()
    os.sync()
    took = time.monotonic() - t0
    if took > 1.0:
        log(f"wrote back the page cache in {took:.1f}s")


def tree_cpu(root_pid: int) -> float:
    """CPU of a server: the root's own and reaped children's time plus its live children's."""
    try:
        total = proc_cpu(root_pid, children=True)
    except OSError:
        return 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == root_pid:
                total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            continue
    return total


class Proc:
    """A benchmarked process: launched in its own session, sampled through /proc."""

    def __init__(self, argv, log_path: Path, env=None, cwd=None, timed=False):
        """timed: run under /usr/bin/time, for processes that end by themselves. wait4()'s
        ru_maxrss of a child forked from this Python process would count Python's own pages
        (they are the child's until exec), so peak RSS comes from /proc/<pid>/status (VmHWM,
        reset by exec) while the process runs, or from GNU time's small fork when timed."""
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.time_file = None
        if timed:
            self.time_file = log_path.with_suffix(".time")
            self.argv = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(self.time_file)] + self.argv
        self.logf = open(log_path, "w")
        self.t_launch = time.time()
        self.p = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                                  cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.p.pid
        self.cpu = 0.0
        self.hwm_kib = 0
        self.exit_code = None
        self.t_exit = None

    def alive(self) -> bool:
        if self.exit_code is not None:
            return False
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def _reaped(self, status, ru):
        self.t_exit = time.time()
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.exit_code
        self.cpu = ru.ru_utime + ru.ru_stime
        if self.time_file:
            try:
                _, user, sys_, maxrss = self.time_file.read_text().split()[-4:]
                self.cpu, self.hwm_kib = float(user) + float(sys_), int(maxrss)
            except (OSError, ValueError):
                pass
        self.logf.close()

    def sample(self):
        """Freeze CPU and peak RSS as they are now (the process is still running)."""
        if self.time_file:
            return  # /proc/<pid> is GNU time's; its report at exit has the numbers
        try:
            self.cpu = proc_cpu(self.pid, children=True)
            self.hwm_kib = max(self.hwm_kib, proc_hwm_kib(self.pid))
        except OSError:
            pass

    def wait(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def stop(self, grace=30.0):
        """SIGTERM, then SIGKILL after `grace` seconds. CPU/RSS keep their sampled values."""
        if not self.alive():
            return
        cpu, hwm = self.cpu, self.hwm_kib
        if self.time_file:
            cpu = None  # GNU time reports at exit
        try:
            if self.time_file:
                os.killpg(self.pid, signal.SIGTERM)
            else:
                os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not self.wait(grace):
            log(f"pid {self.pid} did not stop in {grace:.0f}s; SIGKILL")
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(10)
        if cpu is not None:
            self.cpu, self.hwm_kib = cpu, hwm

    def tail(self, n=15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------------------------
# environment: PostgreSQL + Kafka via scripts/dev-env


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


class Kafka:
    def __init__(self, brokers: str, kbench: Path, data_dir: Path | None = None):
        self.brokers = brokers
        self.kbench = kbench
        self.data_dir = data_dir

    def _kb(self, *args, timeout=600):
        return run([self.kbench, args[0], "-b", self.brokers, *args[1:]], timeout=timeout).stdout

    def create(self, topics):
        if topics:
            self._kb("create", "--log-append-time", *topics, timeout=120)

    def delete(self, topics):
        if topics:
            try:
                self._kb("delete", *topics, timeout=120)
            except BenchError as e:
                log(f"delete topics: {e}")
            self.wait_for_deleted_logs()

    def wait_for_deleted_logs(self, limit_s: float = 60.0):
        """The broker removes a deleted topic's log some time after the deletion (renamed
        `<partition>.<id>-delete` until then; scripts/dev-env sets that delay to 1 s). While such
        logs wait, the broker spent up to twice the CPU on the next run's records: the 50 tables
        ran at 206,000 rows/s with none waiting and at 124,000-136,000 with the previous round's
        50 waiting (Kafka's 60 s default held them through the next round). So no run starts
        before they are gone."""
        if not self.data_dir or not self.data_dir.is_dir():
            return
        t0 = time.monotonic()
        while True:
            waiting = [p.name for p in self.data_dir.iterdir() if p.name.endswith("-delete")]
            if not waiting:
                return
            if time.monotonic() - t0 > limit_s:
                log(f"{len(waiting)} deleted topic log(s) still on the broker after {limit_s:.0f}s "
                    f"(e.g. {waiting[0]}); going on")
                return
            time.sleep(0.2)

    def warm_up(self, records: int, kafka_pid: int | None, max_passes: int = 6):
        """A fresh broker spends its first seconds compiling its own hot paths (the JVM's C1/C2
        threads took ~15% of both cores during the first measured run). Producing a throw-away
        load first puts every system on an equally warm broker, instead of favouring the ones
        that happen to run later. One load of large batches was not enough: paths run once per
        request had seen only a few hundred requests, and the compilers still took 4-8% of the
        machine's samples during pgcdc's runs after it. So each pass produces one load in large
        batches (the producer defaults) and one in small requests (20 records each, the shape
        of a stream of single-row transactions), then one in Kafka transactions committed every
        100 ms over 50 topics (exactly-once's paths: the first exactly-once run of the 50 tables
        had the compilers take 2.0-2.3 of the broker's 3.2-3.9 CPU s), and passes repeat until
        one leaves the compilers nearly idle."""
        topic = "bench-warm-up"
        spread = [f"bench-warm-up-{i:02d}" for i in range(50)]
        self.create([topic] + spread)
        t0 = time.monotonic()
        try:
            for attempt in range(1, max_passes + 1):
                jit0 = jit_cpu(kafka_pid) if kafka_pid else 0.0
                self._kb("produce", "--count", str(records), "--synthetic", "300", topic,
                         timeout=600)
                self._kb("produce", "--count", str(records // 10), "--synthetic", "300",
                         "--prop", "linger.ms=0", "--prop", "batch.num.messages=20", topic,
                         timeout=600)
                self._kb("produce", "--count", str(records // 4), "--synthetic", "300",
                         "--transaction-ms", "100", "--prop", "transactional.id=bench-warm-up",
                         "--prop", "message.timeout.ms=60000",
                         *spread, timeout=600)
                if not kafka_pid:
                    break
                jit = jit_cpu(kafka_pid) - jit0
                log(f"broker warm-up pass {attempt}: its JIT compilers took {jit:.2f} CPU s")
                if jit < 0.2:
                    break
        except BenchError as e:
            log(f"broker warm-up failed (continuing): {e}")
        self.delete([topic] + spread)
        log(f"broker warmed up in {time.monotonic() - t0:.1f}s")

    def hw(self, topics) -> int:
        return int(self._kb("hw", *topics, timeout=60).strip())

    def count(self, topics, dump: Path | None = None, timeout=1800) -> dict:
        extra = ["--dump", str(dump)] if dump else []
        return json.loads(self._kb("count", "--timeout", str(timeout), *extra, *topics,
                                   timeout=timeout + 60))


# ---------------------------------------------------------------------------------------------
# workloads


def op_counts(start: int, end: int) -> tuple[int, int, int]:
    """Inserts, updates and deletes among change indexes [start, end): idx % 10 < 5 insert,
    < 8 update, else delete (a 50/30/20 mix)."""
    def upto(x, a, b):
        return (x // 10) * (b - a) + max(0, min(x % 10, b) - a)
    return tuple(upto(end, a, b) - upto(start, a, b) for a, b in ((0, 5), (5, 8), (8, 10)))


GEN_PROC = r"""
create or replace procedure bench_gen(tbls text[], n bigint, txn bigint, ins_next bigint[],
                                      upd_next bigint[], del_next bigint[], wide boolean, kb int)
language plpgsql as $$
declare
  j bigint := 0;  t bigint := 0;  k int;  e bigint;
  ni bigint;  nu bigint;  nd bigint;  nt int := array_length(tbls, 1);
begin
  while j < n loop
    k := (t % nt) + 1;
    e := least(j + txn, n);
    ni := (e / 10) * 5 + greatest(0, least(e % 10, 5)) - ((j / 10) * 5 + greatest(0, least(j % 10, 5)));
    nu := (e / 10) * 3 + greatest(0, least(e % 10, 8) - 5) - ((j / 10) * 3 + greatest(0, least(j % 10, 8) - 5));
    nd := (e - j) - ni - nu;
    if ni > 0 then
      if wide then
        execute format('insert into %s (id, n, body) select g, 0, repeat(md5(g::text), $3) '
                       'from generate_series($1, $2) g', tbls[k])
          using ins_next[k], ins_next[k] + ni - 1, kb * 32;
      else
        execute format('insert into %s (id, account, amount, status, note, updated_at) '
                       'select g, g %% 1000, (g %% 100000) / 100.0, ''new'', md5(g::text), now() '
                       'from generate_series($1, $2) g', tbls[k])
          using ins_next[k], ins_next[k] + ni - 1;
      end if;
      ins_next[k] := ins_next[k] + ni;
    end if;
    if nu > 0 then
      if wide then
        execute format('update %s set n = n + 1 where id between $1 and $2', tbls[k])
          using upd_next[k], upd_next[k] + nu - 1;
      else
        execute format('update %s set amount = amount + 1, status = ''upd'', updated_at = now() '
                       'where id between $1 and $2', tbls[k])
          using upd_next[k], upd_next[k] + nu - 1;
      end if;
      upd_next[k] := upd_next[k] + nu;
    end if;
    if nd > 0 then
      execute format('delete from %s where id between $1 and $2', tbls[k])
        using del_next[k], del_next[k] + nd - 1;
      del_next[k] := del_next[k] + nd;
    end if;
    commit;
    j := e;
    t := t + 1;
  end loop;
end $$;
"""

NARROW_DDL = ("create table {t} (id bigint primary key, account int not null, "
              "amount numeric(12,2) not null, status text not null, note text, "
              "updated_at timestamptz not null)")
NARROW_FILL = ("insert into {t} select g, g % 1000, (g % 100000) / 100.0, 'old', md5(g::text), "
               "now() from generate_series(1, {n}) g")
WIDE_DDL = ("create table {t} (id bigint primary key, n int not null, body text not null); "
            "alter table {t} alter column body set storage external")
WIDE_FILL = "insert into {t} select g, 0, repeat(md5(g::text), {rep}) from generate_series(1, {n}) g"


class Workload:
    """A set of tables, their prepared content, and the changes replayed from the backlog."""
    kind = "stream"  # or "snapshot" or "latency"

    def __init__(self, name: str, tables: list[str], changes: int, txn: int, wide=False, kb=10,
                 desc=""):
        self.name, self.tables, self.changes, self.txn = name, tables, changes, txn
        self.wide, self.kb, self.desc = wide, kb, desc
        self.ins = self.upd = self.dels = 0
        self.per_table: list[list[int]] = [[0, 0, 0] for _ in tables]
        if self.kind == "stream":
            for t_i, j in enumerate(range(0, changes, txn)):
                c = op_counts(j, min(j + txn, changes))
                row = self.per_table[t_i % len(tables)]
                for x in range(3):
                    row[x] += c[x]
            self.ins = sum(r[0] for r in self.per_table)
            self.upd = sum(r[1] for r in self.per_table)
            self.dels = sum(r[2] for r in self.per_table)

    @property
    def qualified(self):
        return [f"public.{t}" for t in self.tables]

    def publication(self):
        return f"bench_{self.name.replace('-', '_')}"

    def prepare(self, env: Env):
        """Tables and their rows before any slot exists (not part of the replayed WAL)."""
        env.sql("; ".join(f"drop table if exists {t}" for t in self.tables))
        ddl = WIDE_DDL if self.wide else NARROW_DDL
        for t, (_, nu, nd) in zip(self.tables, self.per_table):
            env.sql(ddl.format(t=t))
            pre = nu + nd
            if pre:
                fill = WIDE_FILL if self.wide else NARROW_FILL
                env.sql(fill.format(t=t, n=pre, rep=self.kb * 32))
        env.sql(f"drop publication if exists {self.publication()}")
        env.sql(f"create publication {self.publication()} for table {', '.join(self.qualified)}")
        env.sql("vacuum analyze " + ", ".join(self.tables))

    def generate(self, env: Env) -> float:
        env.sql_file(GEN_PROC)
        arr = lambda xs: "array[" + ",".join(str(x) for x in xs) + "]::bigint[]"  # noqa: E731
        ins_next = [nu + nd + 1 for (_, nu, nd) in self.per_table]
        upd_next = [1 for _ in self.per_table]
        del_next = [nu + 1 for (_, nu, _) in self.per_table]
        names = "array[" + ",".join(f"'{q}'" for q in self.qualified) + "]"
        t0 = time.time()
        env.sql(f"call bench_gen({names}, {self.changes}, {self.txn}, {arr(ins_next)}, "
                f"{arr(upd_next)}, {arr(del_next)}, {str(self.wide).lower()}, {self.kb})",
                timeout=7200)
        return time.time() - t0


class SnapshotWorkload(Workload):
    kind = "snapshot"

    def __init__(self, rows: int):
        super().__init__("snapshot", ["bench_snap"], rows, rows, desc=f"snapshot of a {rows:,}-row table")
        self.ins = rows

    def prepare(self, env: Env):
        env.sql("drop table if exists bench_snap")
        env.sql(NARROW_DDL.format(t="bench_snap"))
        env.sql(NARROW_FILL.format(t="bench_snap", n=self.changes), timeout=7200)
        env.sql(f"drop publication if exists {self.publication()}")
        env.sql(f"create publication {self.publication()} for table public.bench_snap")
        env.sql("vacuum analyze bench_snap", timeout=3600)

    def generate(self, env: Env) -> float:
        return 0.0


class LatencyWorkload(Workload):
    kind = "latency"

    def __init__(self, rate: int, seconds: int, warmup: int):
        super().__init__("latency", [], rate * seconds, 1,
                         desc=f"single-row inserts (pgbench, 4 clients) at {rate:,}/s: {warmup}s "
                              f"warm-up, then {seconds}s measured")
        self.rate, self.seconds, self.warmup = rate, seconds, warmup


def make_workloads(names, sz) -> list[Workload]:
    out = []
    for n in names:
        if n == "snapshot":
            out.append(SnapshotWorkload(sz["snapshot_rows"]))
        elif n.startswith("stream-"):
            txn = int(n.split("-", 1)[1])
            w = Workload(n, [f"bench_s{txn}"], sz["stream_changes"], txn,
                         desc=f"{sz['stream_changes']:,} changes (50% insert, 30% update, 20% "
                              f"delete) in transactions of {txn:,}")
            out.append(w)
        elif n == "toast":
            out.append(Workload("toast", ["bench_toast"], sz["toast_changes"], sz["toast_txn"],
                                wide=True, kb=sz["toast_kb"],
                                desc=f"{sz['toast_changes']:,} changes on rows with a "
                                     f"{sz['toast_kb']} KB TOASTed text column (updates leave it "
                                     f"unchanged), transactions of {sz['toast_txn']}"))
        elif n == "tables":
            k = sz["tables"]
            out.append(Workload("tables", [f"bench_m{i:02d}" for i in range(1, k + 1)],
                                sz["tables_changes"], sz["tables_txn"],
                                desc=f"{k} tables at once: {sz['tables_changes']:,} changes, "
                                     f"transactions of {sz['tables_txn']} rotating over the tables"))
        elif n == "latency":
            out.append(LatencyWorkload(sz["latency_rate"], sz["latency_seconds"], sz["latency_warmup"]))
        else:
            raise BenchError(f"unknown workload {n} (snapshot, stream-<txn size>, toast, tables, latency)")
    return out


# ---------------------------------------------------------------------------------------------
# systems


def kafka_cpu_cell(r: dict) -> str:
    """The broker's CPU during a run and, in parentheses, what its JIT compilers took of it: a
    broker still compiling its hot paths slows whichever system runs then."""
    cell = n(r.get("kafka_cpu_s"), "{:.1f}")
    if r.get("kafka_jit_s") is not None:
        cell += f" ({r['kafka_jit_s']:.1f})"
    return cell


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


def result(system, wl, status, note="", **kw) -> dict:
    r = dict(system=system, workload=wl.name, status=status, note=note, row_changes=wl.changes)
    r.update(kw)
    return r


class Bench:
    def __init__(self, args, env: Env, kafka: Kafka, sz: dict, run_dir: Path):
        self.round = 1  # with --repeat: which round is running
        self.args, self.env, self.kafka, self.sz, self.run_dir = args, env, kafka, sz, run_dir
        self.results: list[dict] = []
        self.peers = read_peer_status()
        self.pgcdc_bin = Path(args.pgcdc_bin)
        self.eos_note = None

    # -- helpers ---------------------------------------------------------------------------

    def slot(self, system):
        return "b_" + re.sub(r"[^a-z0-9]", "_", system)

    def create_slot(self, name):
        self.env.sql(f"select pg_create_logical_replication_slot('{name}', 'pgoutput')")

    def drop_bench_slots(self):
        self.env.sql("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                     "where slot_name like 'b\\_%' and not active")

    def wait_kafka(self, proc: Proc, topics, expected: int, wl, expect_exit=False) -> dict:
        """Poll until the topics hold `expected` records (read_committed count), the process
        dies, or nothing moves for stall_timeout. Returns the final count."""
        stall = self.sz["stall_timeout"]
        deadline = time.time() + self.sz["run_timeout"]
        last, last_move = -1, time.time()
        counted = None
        cpu_end = None
        while True:
            alive = proc.alive()
            if alive:
                proc.sample()
            try:
                hw = self.kafka.hw(topics)
            except BenchError as e:
                log(f"{wl.name}: watermarks: {e}")
                hw = max(last, 0)
            if hw != last:
                last, last_move = hw, time.time()
            if hw >= expected:
                # The servers' CPU is read before the count: counting reads every record back
                # from the broker, which is the bench's work, not the system's.
                cpu_end = self.env.server_cpu()
                c = self.kafka.count(topics)
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
                cpu_end = self.env.server_cpu()
                counted = self.kafka.count(topics)
                break
            if time.time() - last_move > stall:
                log(f"{wl.name}: no progress for {stall}s at {hw}/{expected} records")
                break
            if time.time() > deadline:
                log(f"{wl.name}: run timeout")
                break
            time.sleep(0.5)
        if counted is None:
            cpu_end = self.env.server_cpu()
            counted = self.kafka.count(topics)
        counted["server_cpu_end"] = cpu_end
        return counted

    def kafka_result(self, system, wl, proc: Proc, c: dict, expected: int, cpu0, note="") -> dict:
        servers = self.env.server_cpu_since(cpu0, c.get("server_cpu_end"))
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

    def rundir(self, system, wl) -> Path:
        # A directory per round too: pgcdc's offsets file lives there, and a left-over one would
        # make the next round resume instead of reading everything again.
        d = self.run_dir / (f"{wl.name}-{system}" + (f"-r{self.round}" if self.round > 1 else ""))
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- physical limits ---------------------------------------------------------------------

    def run_pg_recvlogical(self, wl, endpos: str) -> dict:
        d = self.rundir("pg_recvlogical", wl)
        cpu0 = self.env.server_cpu()
        argv = [self.env.pg_bin / "pg_recvlogical", "-d", self.env.conninfo(),
                "--slot", self.slot("pg_recvlogical"), "--start", "--no-loop",
                "-o", "proto_version=1", "-o", f"publication_names={wl.publication()}",
                "-E", endpos, "-f", "/dev/null"]
        proc = Proc(argv, d / "pg_recvlogical.log", timed=True)
        if not proc.wait(self.sz["run_timeout"]):
            proc.stop(5)
            return result("pg_recvlogical", wl, "failed", "timed out")
        servers = self.env.server_cpu_since(cpu0)
        secs = proc.t_exit - proc.t_launch
        if proc.exit_code != 0:
            return result("pg_recvlogical", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
        return result("pg_recvlogical", wl, "ok", "pgoutput decoded to /dev/null (up to the "
                      "backlog's end LSN)", seconds=secs, rate=wl.changes / secs, cpu_s=proc.cpu,
                      rss_mib=proc.hwm_kib / 1024.0, **servers)

    def run_copy(self, wl) -> dict:
        d = self.rundir("copy", wl)
        cpu0 = self.env.server_cpu()
        sql = "; ".join(f"copy {q} to stdout" for q in wl.qualified)
        # psql writes COPY's output to its stdout: /dev/null.
        argv = [*self.env.psql_argv(), "-c", sql, "-o", "/dev/null"]
        proc = Proc(argv, d / "copy.log", timed=True)
        if not proc.wait(self.sz["run_timeout"]):
            proc.stop(5)
            return result("copy", wl, "failed", "timed out")
        servers = self.env.server_cpu_since(cpu0)
        if proc.exit_code != 0:
            return result("copy", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
        secs = proc.t_exit - proc.t_launch
        return result("copy", wl, "ok", "COPY ... TO STDOUT (text) through psql to /dev/null",
                      seconds=secs, rate=wl.changes / secs, cpu_s=proc.cpu,
                      rss_mib=proc.hwm_kib / 1024.0, **servers)

    def run_raw_producer(self, wl, sample_from: dict | None) -> dict:
        if not sample_from:
            return result("raw_producer", wl, "skipped",
                          "needs the records of a pgcdc or Debezium run of the same workload to copy their sizes")
        d = self.rundir("raw_producer", wl)
        topics = [f"raw-{wl.name}.{i}" for i in range(len(sample_from["topics"]))]
        self.kafka.create(topics)
        n = sample_from["records"]
        cpu0 = self.env.server_cpu()
        argv = [self.kafka.kbench, "produce", "-b", self.kafka.brokers, "--count", n,
                "--sample", 20000, "--sample-topics", ",".join(sample_from["topics"]),
                "--timeout", self.sz["run_timeout"], *topics]
        proc = Proc(argv, d / "produce.json", timed=True)
        ok = proc.wait(self.sz["run_timeout"] + 30)
        servers = self.env.server_cpu_since(cpu0)
        try:
            out = json.loads(proc.log_path.read_text().strip().splitlines()[-1])
        except (ValueError, IndexError, OSError):
            out = None
        if not ok or proc.exit_code != 0 or not out:
            proc.stop(5)
            self.kafka.delete(topics)
            return result("raw_producer", wl, "failed", f"exit {proc.exit_code}: {proc.tail(3)}")
        c = self.kafka.count(topics)
        self.kafka.delete(topics)
        status = "ok" if c["records"] >= n else "failed"
        return result("raw_producer", wl, status,
                      f"{n:,} records ({sample_from['system']}'s count for this workload) cycling "
                      f"through {out['sample']:,} of its records, pgcdc's producer settings",
                      records=c["records"], expected_records=n, seconds=out["seconds"],
                      rate=wl.changes / out["seconds"], cpu_s=proc.cpu,
                      rss_mib=proc.hwm_kib / 1024.0, **servers,
                      avg_key=c["key_bytes"] / max(1, c["records"]),
                      avg_value=c["value_bytes"] / max(1, c["records"] - c["nulls"]))

    # -- pgcdc ---------------------------------------------------------------------------------

    def pgcdc_config(self, d: Path, wl, system: str, prefix: str, snapshot: bool, tables=None,
                     publication=None) -> Path:
        tables = tables or wl.qualified
        lines = [
            'shutdown_timeout = "30s"',
            "[source]",
            f'url = "{self.env.pg_url}"',
            "tables = [" + ", ".join(f'"{t}"' for t in tables) + "]",
            f"cdc = {'false' if snapshot and system != 'pgcdc-cdc' else 'true'}",
            f"snapshot = {'true' if snapshot else 'false'}",
            f'publication_name = "{publication or wl.publication()}"',
            f'slot_name = "{self.slot(system)}"',
            "[sink.kafka]",
            f'brokers = "{self.kafka.brokers}"',
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
        own (a latency workload has none of its own: without them the check failed on an empty
        table list, and a latency-only run skipped pgcdc-eos)."""
        if self.eos_note is not None:
            return self.eos_note or None
        cfg = self.pgcdc_config(d, wl, "pgcdc-eos", "eos-check", snapshot=False, tables=tables,
                                publication=publication)
        p = run([self.pgcdc_bin, "check", "-c", cfg], check=False, timeout=120)
        msg = (p.stderr + p.stdout).strip()
        if p.returncode == 2 or "delivery" in msg and p.returncode != 0:
            line = next((l for l in msg.splitlines() if "delivery" in l), msg.splitlines()[-1] if msg else "")
            line = re.sub(r"configuration error in \S+: ", "", line)
            self.eos_note = f'`pgcdc check` rejects delivery = "exactly_once" (exit {p.returncode}: {line.strip()})'
        else:
            self.eos_note = ""
        return self.eos_note or None

    def run_pgcdc(self, system, wl) -> tuple[dict, list[str]]:
        d = self.rundir(system, wl)
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
        self.kafka.create(topics)
        cfg = self.pgcdc_config(d, wl, system, prefix, snapshot)
        tomb = 0 if snapshot else wl.dels
        expected = wl.changes + tomb
        cpu0 = self.env.server_cpu()
        proc = Proc([self.pgcdc_bin, "run", "-c", cfg], d / "pgcdc.log", timed=exits)
        perf = self.start_profile(proc, d) if self.args.profile else None
        try:
            c = self.wait_kafka(proc, topics, expected, wl, expect_exit=exits)
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
        r = self.kafka_result(system, wl, proc, c, expected, cpu0, note=note)
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
            self.kafka.delete([f"{prefix}._offsets"])  # its positions topic (sink.kafka.offsets_topic)
        return r, topics

    # -- Debezium --------------------------------------------------------------------------------

    def run_debezium(self, wl, snapshot_mode=None, tables=None, publication=None, prefix=None,
                     expected=None, live=False):
        st = self.peers.get("debezium", "missing")
        if not st.startswith("ok"):
            return result("debezium", wl, "skipped", f"not installed: {st.removeprefix('failed ')}"), [], None
        home = Path(st.split("|", 1)[1])
        d = self.rundir("debezium", wl)
        tables = tables or wl.qualified
        prefix = prefix or f"dbz-{wl.name}"
        topics = [f"{prefix}.{q}" for q in tables]
        self.kafka.create(topics)
        snapshot = wl.kind == "snapshot"
        rest = free_port()
        (d / "worker.properties").write_text("\n".join([
            f"bootstrap.servers={self.kafka.brokers}",
            "key.converter=org.apache.kafka.connect.json.JsonConverter",
            "value.converter=org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable=false",
            "value.converter.schemas.enable=false",
            f"offset.storage.file.filename={d}/connect.offsets",
            "offset.flush.interval.ms=10000",
            f"listeners=http://127.0.0.1:{rest}",
            "rest.advertised.host.name=127.0.0.1",
            "plugin.discovery=only_scan",
        ]) + "\n")
        (d / "connector.properties").write_text("\n".join([
            f"name=dbz-{wl.name}",
            "connector.class=io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max=1",
            "plugin.name=pgoutput",
            f"database.hostname={self.env.pg_host}",
            f"database.port={self.env.pg_port}",
            f"database.user={self.env.pg_user}",
            "database.password=",
            f"database.dbname={self.env.pg_db}",
            f"topic.prefix={prefix}",
            "table.include.list=" + ",".join(t.replace(".", "\\.") for t in tables),
            f"slot.name={self.slot('debezium')}",
            f"publication.name={publication or wl.publication()}",
            "publication.autocreate.mode=disabled",
            f"snapshot.mode={snapshot_mode or ('initial_only' if snapshot else 'no_data')}",
        ]) + "\n")
        (d / "log4j2.properties").write_text("\n".join([
            "status = warn",
            "appender.file.type = File", "appender.file.name = FILE",
            f"appender.file.fileName = {d}/connect.log",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = info", "rootLogger.appenderRef.file.ref = FILE",
        ]) + "\n")
        # The JVM options of Kafka's bin/connect-standalone.sh (heap) and kafka-run-class.sh.
        argv = ["java", "-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={d}/log4j2.properties",
                "-cp", f"{home}/libs/*", "org.apache.kafka.connect.cli.ConnectStandalone",
                d / "worker.properties", d / "connector.properties"]
        if expected is None:
            expected = wl.changes + (0 if snapshot else wl.dels)  # tombstones.on.delete=true
        cpu0 = self.env.server_cpu()
        proc = Proc(argv, d / "stdout.log")
        if live:
            return None, topics, proc
        try:
            c = self.wait_kafka(proc, topics, expected, wl)
        except BaseException:
            proc.stop(10)
            raise
        r = self.kafka_result("debezium", wl, proc, c, expected, cpu0,
                              note="Connect standalone, JsonConverter schemas off, defaults" +
                                   ("; snapshot.mode=initial_only" if snapshot else ""))
        proc.stop()
        if r["status"] != "ok":
            r["note"] += "; " + tail_grep(d / "connect.log")
        return r, topics, None

    # -- Conduit -------------------------------------------------------------------------------

    def conduit_pipeline(self, d: Path, wl, tables, snapshot: bool, prefix: str,
                         publication: str) -> Path:
        # Conduit 0.14's built-in postgres source takes bare table names (it quotes each entry as
        # one identifier, so "public.t" would be a table named "public.t"); the workloads' tables
        # are all in public. `logrepl.withAvroSchema: false` is the one setting changed from the
        # defaults: with the default (true), Conduit 0.14 stops at the first DELETE of a table with
        # REPLICA IDENTITY DEFAULT ("could not marshal into avro: ... *avro.null is unsupported for
        # Avro int": the old tuple's non-key columns are null) and retries forever.
        y = f"""version: "2.2"
pipelines:
  - id: bench
    status: running
    connectors:
      - id: pg
        type: source
        plugin: builtin:postgres
        settings:
          url: "{self.env.pg_url}"
          tables: "{','.join(q.split('.', 1)[1] for q in tables)}"
          cdcMode: logrepl
          snapshotMode: {'initial' if snapshot else 'never'}
          logrepl.publicationName: {publication}
          logrepl.slotName: {self.slot('conduit')}
          logrepl.withAvroSchema: false
      - id: kafka
        type: destination
        plugin: builtin:kafka
        settings:
          servers: "{self.kafka.brokers}"
          topic: '{prefix}.{{{{ index .Metadata "opencdc.collection" }}}}'
"""
        p = d / "pipelines"
        p.mkdir(exist_ok=True)
        (p / "bench.yaml").write_text(y)
        return p

    def run_conduit(self, wl, tables=None, publication=None, prefix=None, expected=None, live=False):
        st = self.peers.get("conduit", "missing")
        if not st.startswith("ok"):
            return result("conduit", wl, "skipped", f"not installed: {st.removeprefix('failed ')}"), [], None
        d = self.rundir("conduit", wl)
        tables = tables or wl.qualified
        prefix = prefix or f"cdt-{wl.name}"
        snapshot = wl.kind == "snapshot"
        topics = [f"{prefix}.{q}" for q in tables] + [f"{prefix}.{q.split('.', 1)[1]}" for q in tables]
        self.kafka.create(topics)
        pipes = self.conduit_pipeline(d, wl, tables, snapshot, prefix, publication or wl.publication())
        argv = [CACHE / "bin" / "conduit", "run", "--pipelines.path", pipes,
                "--db.type", "badger", "--db.badger.path", d / "db",
                "--api.http.address", f"127.0.0.1:{free_port()}",
                "--api.grpc.address", f"127.0.0.1:{free_port()}", "--log.level", "warn"]
        if expected is None:
            expected = wl.changes
        cpu0 = self.env.server_cpu()
        proc = Proc(argv, d / "conduit.log")
        if live:
            return None, topics, proc
        try:
            c = self.wait_kafka(proc, topics, expected, wl)
        except BaseException:
            proc.stop(10)
            raise
        r = self.kafka_result("conduit", wl, proc, c, expected, cpu0,
                              note="built-in postgres source (logrepl) and kafka destination, defaults but logrepl.withAvroSchema=false")
        proc.stop()
        return r, topics, None

    # -- one throughput workload ----------------------------------------------------------------

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
        # limits; the peers, hours long at full size, keep their place): in alternated checks the
        # same drain cost the walsender from 1.6 to 5.1 CPU s, and one order in every round
        # would put whatever favours a position on one system.
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
                    r = self.run_pg_recvlogical(wl, endpos)
                elif s == "copy":
                    r = self.run_copy(wl)
                elif s in PGCDC_SYSTEMS:
                    r, topics = self.run_pgcdc(s, wl)
                elif s == "raw_producer":
                    r = self.run_raw_producer(wl, sample_from)
                elif s == "debezium":
                    r, topics, _ = self.run_debezium(wl)
                elif s == "conduit":
                    r, topics, _ = self.run_conduit(wl)
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
                if system == "pgcdc-eos":
                    why = self.eos_supported(d, wl, tables=tables, publication=pub)
                    if why:
                        return result(system, wl, "skipped", why)
                prefix = f"{system}-lat"
                topics = [f"{prefix}.public.{tbl}"]
                self.kafka.create(topics)
                cfg = self.pgcdc_config(d, wl, system, prefix, False, tables=tables, publication=pub)
                proc = Proc([self.pgcdc_bin, "run", "-c", cfg], d / "pgcdc.log")
            elif system == "debezium":
                r, topics, proc = self.run_debezium(wl, "no_data", tables, pub, "dbz-lat", live=True)
                if proc is None:
                    return r
            elif system == "conduit":
                r, topics, proc = self.run_conduit(wl, tables, pub, "cdt-lat", live=True)
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


def tail_grep(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errs = [l for l in lines if " ERROR " in l or "Exception" in l]
    return (errs[0] if errs else (lines[-1] if lines else ""))[:300]


def fmt_result(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['status'].upper()}: {r['note']}"
    if r["workload"] == "latency":
        return (f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms at {r['achieved_rate']:,.0f}/s, "
                f"rss {r['rss_mib']:.0f} MiB")
    return (f"{r['rate']:,.0f} rows/s ({r['seconds']:.2f}s), cpu {r['cpu_s']:.1f}s, "
            f"rss {r['rss_mib']:.0f} MiB")


def read_peer_status() -> dict:
    out = {}
    d = CACHE / "status"
    if d.is_dir():
        for f in d.iterdir():
            out[f.name] = f.read_text().strip()
    return out


# ---------------------------------------------------------------------------------------------
# report


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


def round_ratios(rounds: list[dict], w: str, limit_systems: tuple[str, ...]) -> list[float]:
    """pgcdc / the lower limit within each round: systems of one round ran minutes apart, so the
    machine's drift cancels better than between medians taken over all rounds."""
    ratios = []
    for n_ in sorted({r.get("round") for r in rounds if r.get("round")}):
        got = {r["system"]: r.get("rate") for r in rounds
               if r.get("round") == n_ and r["workload"] == w and r["status"] == "ok"}
        limits = [got[s] for s in limit_systems if got.get(s)]
        if got.get("pgcdc") and limits:
            ratios.append(got["pgcdc"] / min(limits))
    return ratios


def goals(results: list[dict], rounds: list[dict] | None = None) -> list[str]:
    """`results`: one per (workload, system) (see aggregate); `rounds`: every round's results,
    for the per-round ratios of a --repeat run."""
    rounds = rounds or []
    by = {(r["workload"], r["system"]): r for r in results}
    rate = lambda w, s: (by.get((w, s)) or {}).get("rate") if (by.get((w, s)) or {}).get("status") == "ok" else None  # noqa: E731
    workloads = []
    for r in results:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    out = []
    met = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    for w in workloads:
        if w == "latency":
            continue
        p = rate(w, "pgcdc")
        if p is None:
            out.append(f"- `{w}`: pgcdc has no result, so no ratio.")
            continue
        if w == "snapshot":
            limit_systems = ("copy", "raw_producer")
            need, what = 0.5, "50% of min(COPY, raw producer)"
        else:
            limit_systems = ("pg_recvlogical", "raw_producer")
            need, what = 0.9, "90% of min(pg_recvlogical, raw producer)"
        limits = [(s, rate(w, s)) for s in limit_systems if rate(w, s)]
        if limits:
            s, lim = min(limits, key=lambda x: x[1])
            rr = p / lim
            per_round = round_ratios(rounds, w, limit_systems)
            if len(per_round) > 1:
                middle = sorted(per_round)[(len(per_round) - 1) // 2]
                out.append(f"- `{w}` vs physical limit, per round: "
                           f"{', '.join(f'{x:.0%}' for x in per_round)}; median {middle:.0%}; "
                           f"goal {what}: {met(middle >= need)} "
                           f"(medians over the rounds: pgcdc {p:,.0f}/s, {s} {lim:,.0f}/s)")
            else:
                out.append(f"- `{w}` vs physical limit: pgcdc {p:,.0f}/s = {rr:.0%} of {s} "
                           f"({lim:,.0f}/s); goal {what}: {met(rr >= need)}")
        else:
            out.append(f"- `{w}` vs physical limit: no limit measured, no ratio")
        d = rate(w, "debezium")
        if d:
            out.append(f"- `{w}` vs Debezium: {p / d:.2f}x; goal 3x: {met(p / d >= 3)}")
        else:
            st = (by.get((w, 'debezium')) or {}).get("status", "not run")
            out.append(f"- `{w}` vs Debezium: no Debezium result ({st}), no ratio")
        c = rate(w, "conduit")
        if c:
            out.append(f"- `{w}` vs Conduit: {p / c:.2f}x; goal ≥ 1x: {met(p / c >= 1)}")
        else:
            st = (by.get((w, 'conduit')) or {}).get("status", "not run")
            out.append(f"- `{w}` vs Conduit: no Conduit result ({st}), no ratio")
        e = rate(w, "pgcdc-eos")
        if e:
            parts = [f"{e / p:.0%} of at-least-once"]
            if limits:
                parts.append(f"{e / lim:.0%} of {s}")
            if d:
                parts.append(f"{e / d:.2f}x Debezium")
            out.append(f"- `{w}` pgcdc exactly-once: {e:,.0f}/s = " + ", ".join(parts))
        wm = rate(w, "pgcdc-cdc")
        if wm:
            parts = [f"{wm / p:.0%} of snapshot only"]
            if limits:
                parts.append(f"{wm / lim:.0%} of {s}")
            out.append(f"- `{w}` pgcdc with cdc = true (watermark chunks): {wm:,.0f}/s = " +
                       ", ".join(parts))
        rss = (by.get((w, "pgcdc")) or {}).get("rss_mib")
        if rss is not None:
            out.append(f"- `{w}` pgcdc peak RSS {rss:.1f} MiB; goal < 64 MiB: {met(rss < 64)}")
    stream_rss = [(r["workload"], r["rss_mib"]) for r in results
                  if r["system"] == "pgcdc" and r["workload"].startswith("stream-") and r["status"] == "ok"]
    if len(stream_rss) > 1:
        lo, hi = min(x[1] for x in stream_rss), max(x[1] for x in stream_rss)
        out.append(f"- pgcdc peak RSS over transaction sizes "
                   f"({', '.join(f'{w}: {v:.1f}' for w, v in stream_rss)} MiB): spread "
                   f"{hi - lo:.1f} MiB ({(hi / lo - 1):.0%}); goal flat: {met(hi / lo < 1.25)} "
                   f"(flat taken as within 25%)")
    lat = by.get(("latency", "pgcdc"))
    if lat and lat.get("status") == "ok":
        at = lat["achieved_rate"]
        out.append(f"- latency: pgcdc p99 {lat['p99_ms']:.1f} ms at {at:,.0f} changes/s; goal "
                   f"< 50 ms at 10,000/s: " + (met(lat["p99_ms"] < 50) if at >= 9500 else
                                                f"not judged (rate {at:,.0f}/s, not 10,000/s)"))
    return out


def aggregate(results: list[dict]) -> list[dict]:
    """One result per (workload, system). With --repeat: the median round (by rate; by p99 for
    latency; the lower middle one for an even count, so it is a round that happened) with the
    range over the rounds in `range` and their count in `rounds`. A round that is not ok makes
    the whole result not ok: a lost record is never averaged away."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["workload"], r["system"]), []).append(r)
    out = []
    for (w, _), rs in groups.items():
        if len(rs) == 1:
            out.append(rs[0])
            continue
        bad = [r for r in rs if r["status"] != "ok"]
        if bad:
            note = bad[0]["note"] if len(bad) == len(rs) else \
                f"{len(bad)} of {len(rs)} rounds not ok: {bad[0]['note']}"
            out.append(dict(bad[0], note=note))
            continue
        key = "p99_ms" if w == "latency" else "rate"
        ranked = sorted(rs, key=lambda r: r.get(key) or 0)
        median = dict(ranked[(len(ranked) - 1) // 2])
        median["rounds"] = len(ranked)
        median["range"] = [ranked[0].get(key), ranked[-1].get(key)]
        out.append(median)
    return out


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


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


def git_describe() -> str:
    p = run(["git", "-C", REPO, "describe", "--always", "--dirty"], check=False)
    return p.stdout.strip() or "?"


def kafka_version() -> str:
    pom = (REPO / "tools" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka.version>(.*?)</kafka.version>", pom)
    return m.group(1) if m else "?"


if __name__ == "__main__":
    main()
