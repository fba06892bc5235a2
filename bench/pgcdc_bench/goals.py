"""Judging a run: one result per workload and system (the median round with --repeat), and the
goals of issue 7 from it."""
from __future__ import annotations


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
        for peer, name, goal, need in (("debezium", "Debezium", "3x", 3), ("conduit", "Conduit", "≥ 1x", 1)):
            x = rate(w, peer)
            if x:
                out.append(f"- `{w}` vs {name}: {p / x:.2f}x; goal {goal}: {met(p / x >= need)}")
            else:
                st = (by.get((w, peer)) or {}).get("status", "not run")
                out.append(f"- `{w}` vs {name}: no {name} result ({st}), no ratio")
        d = rate(w, "debezium")
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
