#!/usr/bin/env python3
"""Chart of a bench/run result: bench/plot.py RESULT.json OUT.png (needs matplotlib)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

data = json.load(open(sys.argv[1]))
# With --repeat, "aggregated" holds each system's median round.
res = [r for r in data.get("aggregated", data["results"]) if r.get("status") == "ok"]
order = ["pg_recvlogical", "copy", "raw_producer", "pgcdc", "pgcdc-eos", "pgcdc-cdc", "debezium",
         "conduit"]
colors = {"pg_recvlogical": "#9e9e9e", "copy": "#bdbdbd", "raw_producer": "#616161",
          "pgcdc": "#1565c0", "pgcdc-eos": "#64b5f6", "pgcdc-cdc": "#0d47a1",
          "debezium": "#e65100", "conduit": "#2e7d32"}
wls = []
for r in data["results"]:
    if r["workload"] != "latency" and r["workload"] not in wls:
        wls.append(r["workload"])
systems = [s for s in order if any(r["system"] == s for r in res)]
lat = [r for r in res if r["workload"] == "latency"]

panels = 2 + (1 if lat else 0)
fig, axes = plt.subplots(panels, 1, figsize=(11, 4.2 * panels))
width = 0.8 / max(1, len(systems))


def bars(ax, key, title, ylabel, log=False):
    for i, s in enumerate(systems):
        xs, ys = [], []
        for j, w in enumerate(wls):
            r = next((r for r in res if r["system"] == s and r["workload"] == w and r.get(key) is not None), None)
            if r:
                xs.append(j + (i - (len(systems) - 1) / 2) * width)
                ys.append(r[key])
        if xs:
            ax.bar(xs, ys, width, label=s, color=colors.get(s))
    ax.set_xticks(range(len(wls)))
    ax.set_xticklabels(wls)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


mode = data["meta"]["mode"]
bars(axes[0], "rate", f"Throughput, row changes/s end to end ({mode})", "rows/s (log)", log=True)
axes[0].legend(ncol=4, fontsize=8)
bars(axes[1], "rss_mib", "Peak RSS of the system's process", "MiB (log)", log=True)
axes[1].axhline(64, color="red", lw=0.8, ls="--")
if lat:
    ax = axes[2]
    names = [r["system"] for r in lat]
    x = range(len(lat))
    ax.bar([i - 0.2 for i in x], [r["p50_ms"] for r in lat], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [r["p99_ms"] for r in lat], 0.4, label="p99")
    ax.axhline(50, color="red", lw=0.8, ls="--")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names)
    ax.set_ylabel("ms (log)")
    ax.set_yscale("log")
    for i, r in enumerate(lat):
        ax.text(i - 0.2, r["p50_ms"], f"{r['p50_ms']:.0f}", ha="center", va="bottom", fontsize=8)
        ax.text(i + 0.2, r["p99_ms"], f"{r['p99_ms']:.0f}", ha="center", va="bottom", fontsize=8)
    rate = lat[0].get("achieved_rate", 0)
    ax.set_title(f"Latency commit -> Kafka LogAppendTime at ~{rate:,.0f} changes/s")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=90)
