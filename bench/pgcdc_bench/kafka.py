"""The broker, through kbench (bench/kbench.cpp): topics, a warm-up load, watermarks and record
counts."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .common import BenchError, log, run
from .process import jit_cpu


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
        logs wait, the broker spends more CPU on the next run's records (docs/benchmarks.md, "How
        it measures"). So no run starts before they are gone."""
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
        threads). Producing a throw-away load first puts every system on an equally warm broker,
        instead of favouring the ones that happen to run later. Paths run once per request need
        many requests, so each pass produces one load in large batches (the producer defaults)
        and one in small requests (20 records each, the shape of a stream of single-row
        transactions), then one in Kafka transactions committed every 100 ms over 50 topics
        (exactly-once's paths), and passes repeat until one leaves the compilers nearly idle."""
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
