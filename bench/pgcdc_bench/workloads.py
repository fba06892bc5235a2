"""The workloads: their tables, the rows prepared before any slot exists, and the changes written
by one PL/pgSQL procedure (bench_gen) and replayed from the backlog."""
from __future__ import annotations

import time

from .common import BenchError
from .env import Env


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
