"""Plots the end-to-end benchmark: ms per completion token with speculation off and on, and τ.

Usage: python scripts/plot_e2e.py bench-results/e2e/e2e.json bench-results/e2e/e2e.png
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
    labels = [f"{row['category']}\n{row['id']}" for row in results]
    positions = range(len(results))

    figure, (time_axis, tau_axis) = plt.subplots(1, 2, figsize=(14, 4.5))
    time_axis.bar([x - 0.2 for x in positions], [row["baselineMsPerToken"] for row in results], 0.4, label="speculation off")
    time_axis.bar([x + 0.2 for x in positions], [row["speculativeMsPerToken"] for row in results], 0.4, label="speculation on")
    time_axis.set_ylabel("wall ms per completion token")
    time_axis.set_xticks(list(positions), labels, fontsize=7)
    time_axis.legend()
    tau_axis.bar(list(positions), [row["tau"] for row in results])
    tau_axis.set_ylabel("τ (tokens per verify step)")
    tau_axis.set_xticks(list(positions), labels, fontsize=7)
    summary = report["summary"]
    figure.suptitle(f"greedy, {summary['prompts']} prompts, {summary['maxTokens']} tokens: speed-up {summary['speedup']:.2f}x, mean τ {summary['meanTau']:.2f}")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
