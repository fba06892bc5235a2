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
