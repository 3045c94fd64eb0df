"""Plots the trace-replay benchmark: τ per data set and drafter configuration, and drafting time.

Usage: python scripts/plot_replay.py bench-results/replay/replay.json bench-results/replay/replay.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(json_path: str, png_path: str) -> None:
    with open(json_path, encoding="utf-8") as handle:
        report = json.load(handle)
    results = report["results"]
    if not results:
        print("No replay results to plot (the run used --replay false).")
        return
    datasets = list(dict.fromkeys(r["dataset"] for r in results))
    configs = list(dict.fromkeys(r["config"] for r in results))
    by_key = {(r["dataset"], r["config"]): r for r in results}

    figure, (tau_axis, time_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(configs)
    for k, config in enumerate(configs):
        xs = [d + k * width for d in range(len(datasets))]
        taus = [by_key.get((d, config), {}).get("tau", 0) for d in datasets]
        medians = [by_key.get((d, config), {}).get("draftUsMedian", 0) for d in datasets]
        tau_axis.bar(xs, taus, width, label=config)
        time_axis.bar(xs, medians, width, label=config)
    for axis in (tau_axis, time_axis):
        axis.set_xticks([d + 0.4 - width / 2 for d in range(len(datasets))])
        axis.set_xticklabels(datasets)
    tau_axis.set_ylabel("τ (tokens per verify step)")
    tau_axis.set_title(f"Exact greedy replay, budget {report['budget']} nodes")
    tau_axis.legend(fontsize=8)
    time_axis.set_ylabel("drafting time per step, median (µs)")
    time_axis.set_title("Drafting + composing cost")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    print(f"Wrote {png_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
