"""Debezium's PostgreSQL connector on Kafka Connect standalone."""
from __future__ import annotations

from pathlib import Path

from ..common import free_port
from ..measure import measure_until_delivered, result


def run(bench, wl, snapshot_mode=None, tables=None, publication=None, prefix=None,
        expected=None, live=False):
    st = bench.peers.get("debezium", "missing")
    if not st.startswith("ok"):
        return result("debezium", wl, "skipped", f"not installed: {st.removeprefix('failed ')}"), [], None
    home = Path(st.split("|", 1)[1])
    d = bench.rundir("debezium", wl)
    tables = tables or wl.qualified
    prefix = prefix or f"dbz-{wl.name}"
    topics = [f"{prefix}.{q}" for q in tables]
    bench.kafka.create(topics)
    snapshot = wl.kind == "snapshot"
    rest = free_port()
    (d / "worker.properties").write_text("\n".join([
        f"bootstrap.servers={bench.kafka.brokers}",
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
        f"database.hostname={bench.env.pg_host}",
        f"database.port={bench.env.pg_port}",
        f"database.user={bench.env.pg_user}",
        "database.password=",
        f"database.dbname={bench.env.pg_db}",
        f"topic.prefix={prefix}",
        "table.include.list=" + ",".join(t.replace(".", "\\.") for t in tables),
        f"slot.name={bench.slot('debezium')}",
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
    r, proc = measure_until_delivered(
        bench, "debezium", wl, argv, d / "stdout.log", topics, expected,
        "Connect standalone, JsonConverter schemas off, defaults" +
        ("; snapshot.mode=initial_only" if snapshot else ""),
        live=live)
    if proc is not None:
        return None, topics, proc
    if r["status"] != "ok":
        r["note"] += "; " + tail_grep(d / "connect.log")
    return r, topics, None


def tail_grep(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errs = [l for l in lines if " ERROR " in l or "Exception" in l]
    return (errs[0] if errs else (lines[-1] if lines else ""))[:300]
