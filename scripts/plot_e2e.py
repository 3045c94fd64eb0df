"""Plot the end-to-end benchmark written by scripts/bench-e2e.ts.

Four panels at the lowest round-trip time unless stated: speed-up over the baseline by category
and configuration, τ by category and configuration, and the composed speed-up against the
round-trip time. The last panel sets the composed speed-up in wall time beside that of the decode
loop alone, which leaves out the prefill.

Usage: python scripts/plot_e2e.py bench-results/e2e/e2e.json bench-results/e2e/e2e.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DRAFTER_CONFIGS = ["recycling", "trie", "corpus", "context", "composed"]


def grouped_bars(axis, rows, categories, configs, value, label):
    width = 0.8 / len(configs)
    for offset, config in enumerate(configs):
        heights = [value(rows.get((category, config)), 0.0) for category in categories]
        positions = [i + (offset - (len(configs) - 1) / 2) * width for i in range(len(categories))]
        axis.bar(positions, heights, width, label=config)
    axis.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel(label)


def main(json_path: str, png_path: str) -> None:
    with open(json_path, encoding="utf-8") as handle:
        report = json.load(handle)
    summary = report["summary"]
    lowest_rtt = min(row["rttMs"] for row in summary)
    at_lowest = {(row["category"], row["config"]): row for row in summary if row["rttMs"] == lowest_rtt}
    categories = [category for category in dict.fromkeys(row["category"] for row in summary)]
    configs = [config for config in DRAFTER_CONFIGS if any(key[1] == config for key in at_lowest)]

    figure, (speedup_axis, tau_axis, rtt_axis, decode_axis) = plt.subplots(1, 4, figsize=(24, 5.5))

    grouped_bars(speedup_axis, at_lowest, categories, configs, lambda row, empty: row["speedup"] if row else empty, "speed-up over the baseline (tokens/s ratio)")
    speedup_axis.axhline(1.0, color="black", linewidth=0.8)
    speedup_axis.set_title(f"speed-up at {lowest_rtt:g} ms edge↔GPU delay")
    speedup_axis.legend(fontsize=8)

    grouped_bars(tau_axis, at_lowest, categories, configs, lambda row, empty: row["tau"] if row else empty, "τ (tokens committed per verify step)")
    tau_axis.axhline(1.0, color="black", linewidth=0.8)
    tau_axis.set_title(f"τ at {lowest_rtt:g} ms")

    for category in categories:
        points = sorted((row["rttMs"], row["speedup"]) for row in summary if row["category"] == category and row["config"] == "composed")
        if not points:
            continue
        style = {"linewidth": 2.5, "color": "black"} if category == "all" else {"linewidth": 1}
        rtt_axis.plot([rtt for rtt, _ in points], [speedup for _, speedup in points], marker="o", label=category, **style)
    rtt_axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    rtt_axis.set_xlabel("added edge↔GPU round-trip time (ms)")
    rtt_axis.set_ylabel("composed speed-up over the baseline at the same delay")
    rtt_axis.set_title("speed-up against round-trip time")
    rtt_axis.legend(fontsize=7)

    composed_rows = [at_lowest.get((category, "composed")) for category in categories]
    width = 0.4
    wall = [row["speedup"] if row else 0.0 for row in composed_rows]
    decode_only = [row["decodeSpeedup"] if row else 0.0 for row in composed_rows]
    decode_axis.bar([i - width / 2 for i in range(len(categories))], wall, width, label="wall time (prefill included)", color="tab:purple")
    decode_axis.bar([i + width / 2 for i in range(len(categories))], decode_only, width, label="decode loop only", color="tab:gray")
    decode_axis.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=8)
    decode_axis.set_ylabel("composed speed-up over the baseline")
    decode_axis.axhline(1.0, color="black", linewidth=0.8)
    decode_axis.set_title(f"composed at {lowest_rtt:g} ms: wall time against the decode loop alone")
    decode_axis.legend(fontsize=8)

    settings = report["settings"]
    figure.suptitle(
        f"edgespec-tiny on CPU through the worker, greedy, {settings['perCategory']} prompts per category, "
        f"max_tokens {settings['maxTokens']}, {report['prompts']} prompts, {len(report['mismatches'])} mismatches"
    )
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
