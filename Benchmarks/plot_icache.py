#!/usr/bin/env python3
"""Plot `stubpool icache --json` output: ns per hop against chain length, log axes, one line per
placement, one panel per kind. Installs matplotlib with pip if it is missing.

    swift run -c release stubpool icache --json > Benchmarks/results/icache.json
    python3 Benchmarks/plot_icache.py Benchmarks/results/icache.json Benchmarks/results/icache.png
"""
import importlib
import json
import subprocess
import sys


def matplotlib_pyplot():
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        print("installing matplotlib with pip…", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def main(source, destination, title=None):
    with open(source) as handle:
        points = json.load(handle)["points"]
    kinds = list(dict.fromkeys(point["kind"] for point in points))
    placements = list(dict.fromkeys(point["placement"] for point in points))
    pyplot = matplotlib_pyplot()
    figure, axes = pyplot.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.5), sharey=True, squeeze=False)
    for axis, kind in zip(axes[0], kinds):
        for placement in placements:
            line = sorted((p["stubs"], p["ns_per_hop"]) for p in points if p["kind"] == kind and p["placement"] == placement)
            if line:
                axis.plot([x for x, _ in line], [y for _, y in line], marker="o", markersize=3, label=placement)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("stubs in the chain")
        axis.set_title(f"{kind} stubs")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    axes[0][0].set_ylabel("ns per hop (median)")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(destination, dpi=110)
    print(f"wrote {destination}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: plot_icache.py ICACHE.json OUTPUT.png [TITLE]")
    main(*sys.argv[1:])
