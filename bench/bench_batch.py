"""The encoder's cost per window by batch size and XNNPACK thread count, side by side (issue 19, item 2).

For each (batch, threads) pair an interpreter runs the same windows (cut from
speech, as file analysis cuts them); the pairs take turns round by round, so a
busy machine slows them alike, and each is reported as ms per window and as a
ratio to batch 32 with one thread (what ``serlive predict`` uses per worker).
The memory each interpreter's arena takes at that batch is shown too: with
``predict --jobs N`` every worker holds one.

It also checks that a window's probabilities do not depend on the batch it ran
in (if they do not, a smaller batch for parallel workers would save memory
without changing the output).

    python bench/bench_batch.py [--model PATH] [--windows 128] [--rounds 5]
                                [--batches 1,4,8,16,32] [--threads 1,2]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_jobs import cpu_description  # noqa: E402
from bench_pipeline import synthetic_speech  # noqa: E402

from serlive.files.analysis import plan_signal  # noqa: E402
from serlive.model import EmotionModel  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--windows", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", default="1,4,8,16,32")
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {cpu['cpus']} CPUs, {cpu['usable_cores']} usable; flags {cpu['flags']}")
    print(f"load average before: {cpu['load_average']}")

    ref = EmotionModel(a.model, invoke_batch=64)
    sr = ref.meta.features.sample_rate
    y = synthetic_speech(sr, 2.0 * a.windows + 4.0)
    plan = plan_signal(len(y), ref, batch=10**6, segment_windows=10**6)
    seg = plan.segment(y, 0, ref.extractor)
    x = np.stack([seg.window(s)[0] for s in plan.segments[0][0][: a.windows]])
    n = len(x)

    models: dict[tuple[int, int], EmotionModel] = {}
    arena: dict[tuple[int, int], float] = {}
    for t in threads:
        for b in batches:
            before = rss_mb()
            m = EmotionModel(a.model, num_threads=t, invoke_batch=b)
            m.predict(x[:b])
            arena[(b, t)] = rss_mb() - before
            models[(b, t)] = m

    # does a window's output depend on its batch?
    one = np.concatenate([ref.predict(x[i : i + 1]) for i in range(min(n, 32))])
    whole = ref.predict(x[: min(n, 32)])
    batch_independent = bool(np.array_equal(one, whole))

    times: dict[tuple[int, int], list[float]] = {k: [] for k in models}
    for _ in range(a.rounds):
        for key, m in models.items():
            b = key[0]
            t0 = time.perf_counter()
            for i in range(0, n, b):
                m.predict(x[i : i + b])
            times[key].append((time.perf_counter() - t0) / n * 1000)
    base_key = (32, 1) if (32, 1) in times else next(iter(times))
    print()
    print(f"{'batch':>6}{'threads':>8}{'ms/window':>11}{'vs ' + str(base_key):>14}{'arena MB':>10}")
    rows = []
    for key in models:
        ms = statistics.median(times[key])
        ratio = statistics.median(u / v for u, v in zip(times[key], times[base_key], strict=True))
        rows.append(
            {"batch": key[0], "threads": key[1], "ms_per_window": round(ms, 3), "ratio": round(ratio, 3)}
        )
        rows[-1]["arena_mb"] = round(arena[key], 1)
        print(f"{key[0]:>6}{key[1]:>8}{ms:>11.2f}{ratio:>14.2f}{arena[key]:>10.0f}")
    print(f"a window's output is the same in any batch: {batch_independent}")
    print(f"load average after: {os.getloadavg()}")
    print(
        "BENCH "
        + json.dumps({"cpu": cpu, "windows": n, "rows": rows, "batch_independent": batch_independent})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
