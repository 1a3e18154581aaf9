"""Table and plot of bench-ttft's JSON lines (bench/run_ttft.sh): TTFT per mode and context size,
the ratio to full, and kvlink against its floor."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODES = ["full", "kvlink", "reencode", "noshift", "cacheblend"]


def main(src, table_path, png_path):
    rows = [json.loads(line) for line in open(src) if line.strip()]
    ttft = {(r["chunk_tokens"], r["mode"], r["page_cache"]): r for r in rows if r["kind"] == "ttft"}
    floor = {r["chunk_tokens"]: r for r in rows if r["kind"] == "floor"}
    sizes = sorted({r["chunk_tokens"] for r in rows})
    first = next(r for r in rows if r["kind"] == "ttft")
    lines = [
        f"TTFT in ms, median of {first['runs']} runs, {first['threads']} threads, 10 chunks per question "
        "(page cache warm unless marked cold; ratio to full in brackets).",
        "",
        "| chunk tokens | context tokens | " + " | ".join(MODES) + " | kvlink cold | reencode cold |",
        "|---|---|" + "---|" * (len(MODES) + 2),
    ]
    for s in sizes:
        full = ttft.get((s, "full", "warm"))
        cells = []
        for m in MODES + ["kvlink cold", "reencode cold"]:
            mode, _, cold = m.partition(" ")
            r = ttft.get((s, mode, "cold" if cold else "warm"))
            if not r:
                cells.append("")
                continue
            ratio = f" ({100 * r['ttft_ms_median'] / full['ttft_ms_median']:.1f}%)" if full and mode != "full" else ""
            cells.append(f"{r['ttft_ms_median']:.0f}{ratio}")
        n_ctx = full["n_prompt"] if full else ""
        lines.append(f"| {s} | {n_ctx} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "kvlink against its floor (same run): floor A = the tokens kvlink computes, prefilled alone at position 0 "
        "(their matrix products, no context to attend to), plus the cache bytes at memcpy bandwidth; floor B = the "
        "same tokens at their real positions over rows already in memory (kvlink's own compute stage, attention "
        "over the context included), plus the cache bytes at memcpy bandwidth.",
        "",
        "| chunk tokens | tokens computed | cache MB | memcpy GB/s | floor A ms | floor B ms | kvlink ms | kvlink / A | kvlink / B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        f, k = floor.get(s), ttft.get((s, "kvlink", "warm"))
        if not f or not k:
            continue
        floor_b = k["compute_ms_median"] + f["read_ms"]
        lines.append(
            f"| {s} | {k['tokens_computed']} | {k['bytes_loaded'] / 1e6:.1f} | {f['memcpy_gb_per_s']:.1f} | "
            f"{f['floor_ms']:.0f} | {floor_b:.0f} | {k['ttft_ms_median']:.0f} | "
            f"{k['ttft_ms_median'] / f['floor_ms']:.2f} | {k['ttft_ms_median'] / floor_b:.2f} |"
        )
    open(table_path, "w").write("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in MODES:
        pts = [(ttft[(s, m, "warm")]["n_prompt"], ttft[(s, m, "warm")]["ttft_ms_median"]) for s in sizes if (s, m, "warm") in ttft]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=m)
    pts = [(ttft[(s, "kvlink", "cold")]["n_prompt"], ttft[(s, "kvlink", "cold")]["ttft_ms_median"]) for s in sizes if (s, "kvlink", "cold") in ttft]
    if pts:
        ax.plot(*zip(*pts), marker="x", linestyle="--", label="kvlink (cold page cache)")
    ax.set_yscale("log")
    ax.set_xlabel("context tokens (10 chunks + question)")
    ax.set_ylabel("time to first token, ms (log scale)")
    ax.set_title(f"SmolLM2-135M Q4_1, {first['threads']} threads, median of {first['runs']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:4])
