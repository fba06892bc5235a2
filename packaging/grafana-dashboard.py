#!/usr/bin/env python3
# Writes grafana-dashboard.json next to this file: the Grafana dashboard for pgcdc's metrics
# (docs/metrics.md). Edit the panels here and run it again; tests/unit/daemon_metrics_test.cpp
# checks that every metric the dashboard queries is one pgcdc serves.
import json
import os
panels = []
pid = [0]
def nid():
    pid[0] += 1
    return pid[0]
y = [0]
def row(title):
    panels.append({"type": "row", "title": title, "id": nid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1
x = [0]
def place(w, h):
    if x[0] + w > 24:
        x[0] = 0
        y[0] += h_last[0]
    pos = {"h": h, "w": w, "x": x[0], "y": y[0]}
    x[0] += w
    h_last[0] = h
    return pos
h_last = [0]
def newline():
    if x[0] != 0:
        y[0] += h_last[0]
        x[0] = 0
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
def target(expr, legend, ref="A"):
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
def ts(title, targets, unit="short", w=12, h=8, desc="", stack=False, minv=None, maxv=None):
    p = {"type": "timeseries", "title": title, "id": nid(), "datasource": DS,
         "description": desc, "gridPos": place(w, h),
         "targets": [target(e, l, chr(65 + i)) for i, (e, l) in enumerate(targets)],
         "fieldConfig": {"defaults": {"unit": unit, "custom": {"fillOpacity": 10,
                          "stacking": {"mode": "normal" if stack else "none"}}}, "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                     "tooltip": {"mode": "multi"}}}
    if minv is not None: p["fieldConfig"]["defaults"]["min"] = minv
    if maxv is not None: p["fieldConfig"]["defaults"]["max"] = maxv
    panels.append(p)
def stat(title, expr, legend="", unit="short", w=4, h=4, desc="", mappings=None, thresholds=None, text_mode="auto"):
    p = {"type": "stat", "title": title, "id": nid(), "datasource": DS, "description": desc,
         "gridPos": place(w, h), "targets": [target(expr, legend)],
         "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                          "thresholds": thresholds or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}},
                         "overrides": []},
         "options": {"colorMode": "background", "graphMode": "none", "textMode": text_mode, "reduceOptions": {"calcs": ["lastNotNull"]}}}
    panels.append(p)

row("Health")
stat("Ready", f'pgcdc_ready{{{SEL}}}', "{{instance}}", desc="1 when /readyz answers 200: connected to PostgreSQL and Kafka, records moving, not in backoff.",
     mappings=[{"type": "value", "options": {"0": {"text": "NOT READY", "color": "red"}, "1": {"text": "READY", "color": "green"}}}])
stat("Streaming", f'pgcdc_streaming{{{SEL}}}', "{{instance}}",
     mappings=[{"type": "value", "options": {"0": {"text": "no", "color": "orange"}, "1": {"text": "yes", "color": "green"}}}])
stat("Slot WAL status", f'max by (status) (pgcdc_slot_wal_status{{{SEL}}}) == 1', "{{status}}",
     desc="pg_replication_slots.wal_status. 'unreserved' means the slot is about to lose WAL; 'lost' needs a new snapshot.",
     mappings=[], text_mode="name")
stat("Reconnects (1h)", f'sum(increase(pgcdc_reconnects_total{{{SEL}}}[1h]))', unit="short",
     thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}, {"color": "red", "value": 10}]})
stat("Failed records (1h)", f'sum(increase(pgcdc_records_failed_total{{{SEL}}}[1h]))',
     desc="Deliveries Kafka refused or timed out; each ends the session and the records are read again.",
     thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]})
stat("Uptime", f'time() - pgcdc_start_time_seconds{{{SEL}}}', "{{instance}}", unit="s")
newline()
ts("Errors by stage", [(f'sum by (stage) (increase(pgcdc_errors_total{{{SEL}}}[$__rate_interval]))', "{{stage}}")],
   desc="Errors that ended a session (retried) or the daemon.", w=12, h=7)
ts("Reconnects", [(f'sum(increase(pgcdc_reconnects_total{{{SEL}}}[$__rate_interval]))', "reconnects"),
                  (f'sum(increase(pgcdc_slot_sample_errors_total{{{SEL}}}[$__rate_interval]))', "slot sample errors")], w=12, h=7)
newline()
row("Throughput")
ts("Records read / s (by table, op)", [(f'sum by (table, op) (rate(pgcdc_records_read_total{{{SEL}}}[$__rate_interval]))', "{{table}} {{op}}")], unit="ops", w=8)
ts("Records produced / s", [(f'sum by (table, op) (rate(pgcdc_records_produced_total{{{SEL}}}[$__rate_interval]))', "{{table}} {{op}}")], unit="ops", w=8)
ts("Records delivered / s", [(f'sum by (table, op) (rate(pgcdc_records_delivered_total{{{SEL}}}[$__rate_interval]))', "{{table}} {{op}}"),
                             (f'sum by (table, op) (rate(pgcdc_records_failed_total{{{SEL}}}[$__rate_interval])) > 0', "FAILED {{table}} {{op}}")], unit="ops", w=8)
newline()
ts("Bytes / s", [(f'sum by (table) (rate(pgcdc_produced_bytes_total{{{SEL}}}[$__rate_interval]))', "produced {{table}}"),
                 (f'sum by (table) (rate(pgcdc_delivered_bytes_total{{{SEL}}}[$__rate_interval]))', "delivered {{table}}")], unit="Bps")
ts("Transactions / s", [(f'sum(rate(pgcdc_transactions_total{{{SEL}}}[$__rate_interval]))', "transactions"),
                        (f'sum(rate(pgcdc_unknown_type_values_total{{{SEL}}}[$__rate_interval]))', "values of unmapped types")], unit="ops")
newline()
row("Latency and lag")
ts("End-to-end latency (commit to Kafka ack)", [
    (f'histogram_quantile(0.5, sum by (le) (rate(pgcdc_end_to_end_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p50"),
    (f'histogram_quantile(0.99, sum by (le) (rate(pgcdc_end_to_end_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p99")], unit="s")
ts("Replication lag", [(f'pgcdc_replication_lag_bytes{{{SEL}}}', "lag {{instance}}")], unit="bytes",
   desc="Server WAL position minus the position pgcdc confirmed (everything before it is in Kafka).")
newline()
ts("WAL retained by the slot", [(f'pgcdc_slot_retained_wal_bytes{{{SEL}}}', "retained {{instance}}"),
                                (f'pgcdc_slot_safe_wal_size_bytes{{{SEL}}}', "safe size left {{instance}}")], unit="bytes",
   desc="What the slot keeps on the PostgreSQL server's disk; safe size is shown only with max_slot_wal_keep_size.")
ts("Positions", [(f'pgcdc_received_lsn{{{SEL}}}', "received"), (f'pgcdc_confirmed_flush_lsn{{{SEL}}}', "confirmed flush"),
                 (f'pgcdc_server_wal_lsn{{{SEL}}}', "server WAL"), (f'pgcdc_slot_confirmed_flush_lsn{{{SEL}}}', "slot confirmed (server view)")], unit="decbytes")
newline()
row("Buffer and producer")
ts("Buffer fill ratio", [(f'pgcdc_buffer_fill_ratio{{{SEL}}}', "fill {{instance}}")], unit="percentunit", minv=0, maxv=1,
   desc="1.0: the buffer is full and the source waits (Kafka slow or down).", w=8)
ts("Records in flight", [(f'pgcdc_records_in_flight{{{SEL}}}', "in flight (buffer + producer)"),
                         (f'pgcdc_sink_queue_records{{{SEL}}}', "producer queue"),
                         (f'pgcdc_buffer_records{{{SEL}}}', "buffer")], w=8)
ts("Buffer bytes", [(f'pgcdc_buffer_bytes{{{SEL}}}', "bytes"), (f'pgcdc_buffer_capacity_bytes{{{SEL}}}', "capacity")], unit="bytes", w=8)
newline()
row("Snapshot")
panels.append({"type": "bargauge", "title": "Snapshot progress", "id": nid(), "datasource": DS,
  "description": "Rows delivered / pg_class.reltuples. Tables never analyzed have no estimate.",
  "gridPos": place(12, 8),
  "targets": [target(f'clamp_max(pgcdc_snapshot_rows{{{SEL}}} / (pgcdc_snapshot_rows_estimated{{{SEL}}} > 0), 1)', "{{table}}")],
  "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}, "overrides": []},
  "options": {"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": {"calcs": ["lastNotNull"]}}})
panels.append({"type": "table", "title": "Table state", "id": nid(), "datasource": DS,
  "gridPos": place(12, 8),
  "targets": [{**target(f'pgcdc_table_state{{{SEL}}} == 1', ""), "format": "table", "instant": True}],
  "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}]})
newline()
ts("Snapshot rows", [(f'pgcdc_snapshot_rows{{{SEL}}}', "done {{table}}"), (f'pgcdc_snapshot_rows_estimated{{{SEL}}}', "estimate {{table}}")])
ts("Snapshot chunks / s", [(f'sum by (table) (rate(pgcdc_snapshot_chunks_total{{{SEL}}}[$__rate_interval]))', "{{table}}"),
                           (f'sum(rate(pgcdc_snapshot_chunk_retries_total{{{SEL}}}[$__rate_interval]))', "retries")], unit="ops")
newline()

dash = {
  "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
  "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"},
                 {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}],
  "title": "pgcdc", "uid": "pgcdc-overview", "description": "pgcdc: PostgreSQL to Kafka. Metrics are described in docs/metrics.md.",
  "tags": ["pgcdc", "postgresql", "kafka", "cdc"], "timezone": "browser", "schemaVersion": 37, "version": 1,
  "editable": True, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}, "hide": 0},
    {"name": "instance", "type": "query", "label": "Instance", "datasource": DS,
     "query": {"query": "label_values(pgcdc_build_info, instance)", "refId": "instance"},
     "definition": "label_values(pgcdc_build_info, instance)", "includeAll": True, "multi": True, "allValue": ".*",
     "current": {"selected": True, "text": "All", "value": "$__all"}, "refresh": 2, "hide": 0}]},
  "annotations": {"list": []},
  "panels": panels,
}
json.dump(dash, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "grafana-dashboard.json"), "w"), indent=2)
print("wrote grafana-dashboard.json:", len(panels), "panels")
