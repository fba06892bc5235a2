"""Conduit's built-in postgres source (logical replication) and kafka destination."""
from __future__ import annotations

from pathlib import Path

from ..common import CACHE, free_port
from ..measure import measure_until_delivered, result


def pipeline(bench, d: Path, wl, tables, snapshot: bool, prefix: str, publication: str) -> Path:
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
          url: "{bench.env.pg_url}"
          tables: "{','.join(q.split('.', 1)[1] for q in tables)}"
          cdcMode: logrepl
          snapshotMode: {'initial' if snapshot else 'never'}
          logrepl.publicationName: {publication}
          logrepl.slotName: {bench.slot('conduit')}
          logrepl.withAvroSchema: false
      - id: kafka
        type: destination
        plugin: builtin:kafka
        settings:
          servers: "{bench.kafka.brokers}"
          topic: '{prefix}.{{{{ index .Metadata "opencdc.collection" }}}}'
"""
    p = d / "pipelines"
    p.mkdir(exist_ok=True)
    (p / "bench.yaml").write_text(y)
    return p


def run(bench, wl, tables=None, publication=None, prefix=None, expected=None, live=False):
    st = bench.peers.get("conduit", "missing")
    if not st.startswith("ok"):
        return result("conduit", wl, "skipped", f"not installed: {st.removeprefix('failed ')}"), [], None
    d = bench.rundir("conduit", wl)
    tables = tables or wl.qualified
    prefix = prefix or f"cdt-{wl.name}"
    snapshot = wl.kind == "snapshot"
    topics = [f"{prefix}.{q}" for q in tables] + [f"{prefix}.{q.split('.', 1)[1]}" for q in tables]
    bench.kafka.create(topics)
    pipes = pipeline(bench, d, wl, tables, snapshot, prefix, publication or wl.publication())
    argv = [CACHE / "bin" / "conduit", "run", "--pipelines.path", pipes,
            "--db.type", "badger", "--db.badger.path", d / "db",
            "--api.http.address", f"127.0.0.1:{free_port()}",
            "--api.grpc.address", f"127.0.0.1:{free_port()}", "--log.level", "warn"]
    if expected is None:
        expected = wl.changes
    r, proc = measure_until_delivered(
        bench, "conduit", wl, argv, d / "conduit.log", topics, expected,
        "built-in postgres source (logrepl) and kafka destination, defaults but logrepl.withAvroSchema=false",
        live=live)
    return r, topics, proc
