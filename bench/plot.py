"""Plots latency percentiles against achieved throughput from bench/run's curve.txt."""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
got = [float(r[2]) for r in rows]
fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
for index, label in [(3, "p50"), (4, "p99"), (5, "p99.9")]:
    ax.plot(got, [int(r[index]) / 1000 for r in rows], marker="o", label=label)
ax.set_yscale("log")
ax.set_xlabel("achieved throughput (req/s), GET /api/v1/products/{id}")
ax.set_ylabel("latency (ms, from intended send)")
ax.set_title("Shop: latency against throughput, open loop")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2])
