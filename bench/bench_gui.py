"""Benchmark of the desktop app while live: frame time, CPU of the whole app, RSS over time.

The real :class:`serlive.gui.main_window.MainWindow` (shipped model) listens
to a :class:`serlive.audio.sources.FileSource` replaying espeak-ng-like
synthetic speech with pauses in real time (20 ms blocks, like a microphone
callback), so no sound card is needed.  Measured:

* **tick time**: the live view's 30 fps timer slot (drain results, envelope,
  new spectrogram columns, setData) — median / p95 / max;
* **frame time**: the same plus the repaint it causes (``QWidget.repaint``
  of the Live tab, forced synchronously once a second and timed);
* **CPU**: process CPU time / wall time, in % of one core (engine worker,
  replay thread, GUI thread and painting together);
* **RSS**: sampled every 10 s; growth after the first minute says whether memory is flat;
* **latency to screen**: from the arrival of a window's last sample to the end of the tick that
  drew its result (``LiveView.screen_latencies``: the engine's latency, the wait in the results
  queue for a tick, and the tick's drawing) — median / p95 / max; beside it the engine's own
  decision latency (arrival to result published);
* **hop**: the share of windows analysed at the adaptive hop's widened hop (1 s), the number of
  hop changes and the base-grid windows the widened hop passed over.

``--hop-policy fixed|adaptive`` chooses the engine's hop (adaptive: the app's default);
``both`` runs the benchmark once per policy, each in its own process, and prints both plus a
comparison.  ``--load N`` runs N busy-loop processes beside it for the whole run (a busy
machine, where the adaptive hop engages).

Run it under a display (``xvfb-run -a python bench/bench_gui.py``) or with
``QT_QPA_PLATFORM=offscreen``.  Prints a table and one ``BENCH {json}`` line per policy.

    python bench/bench_gui.py [--seconds 180] [--hop-policy fixed|adaptive|both] [--load N]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    """Resident set size of this process from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speech(seconds: float, sr: int = 16000) -> np.ndarray:
    """Speech-like test signal (tests/signals.py: numpy only, no pytest) with 1 s pauses every 4 s."""
    from tests.signals import speechlike

    parts = []
    i = 0
    while sum(len(p) for p in parts) < seconds * sr:
        parts += [speechlike(3.0, seed=i, f0=110 + 20 * (i % 5)), np.zeros(sr, np.float32)]
        i += 1
    return np.concatenate(parts)[: int(seconds * sr)]


def start_load(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` busy-loop processes (a machine busy with other work); stopped by :func:`stop_load`."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen[bytes]]) -> None:
    """End the busy loops this script started (each by its own process)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def ms_stats(name: str, seconds: list[float]) -> dict[str, float | None]:
    """``{name}_median/p95/max`` in ms (None without measurements)."""
    if not seconds:
        return {f"{name}_median": None, f"{name}_p95": None, f"{name}_max": None}
    x = 1000 * np.asarray(seconds)
    return {
        f"{name}_median": round(float(np.median(x)), 1),
        f"{name}_p95": round(float(np.percentile(x, 95)), 1),
        f"{name}_max": round(float(x.max()), 1),
    }


#: what the comparison of ``--hop-policy both`` shows, one row each
COMPARED = (
    "cpu_percent_of_core",
    "fps",
    "tick_ms_p95",
    "windows",
    "dropped_windows",
    "widened_share",
    "hop_changes",
    "decision_latency_ms_p95",
    "latency_to_screen_ms_median",
    "latency_to_screen_ms_p95",
    "latency_to_screen_ms_max",
)


def compare(args: argparse.Namespace) -> int:
    """Run the benchmark once per hop policy, each in a fresh process; print both and a comparison."""
    runs: dict[str, dict] = {}
    for policy in ("fixed", "adaptive"):
        cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--hop-policy", policy]
        cmd += ["--load", str(args.load)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        sys.stderr.write(out.stderr[-4000:])
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")]
        if out.returncode or not lines:
            print(f"the {policy} run failed (exit {out.returncode})")
            return 1
        runs[policy] = json.loads(lines[-1][len("BENCH ") :])
    print(f"{'':>28}  {'fixed':>10}  {'adaptive':>10}")
    for key in COMPARED:
        print(f"{key:>28}  {runs['fixed'].get(key)!s:>10}  {runs['adaptive'].get(key)!s:>10}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="how long to listen")
    ap.add_argument(
        "--hop-policy",
        choices=("fixed", "adaptive", "both"),
        default="adaptive",
        help="the engine's hop: fixed, adaptive (the app's default), or both (one run each)",
    )
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes to run beside it")
    args = ap.parse_args()
    if args.hop_policy == "both":
        return compare(args)

    from PySide6.QtCore import QSettings, QTimer

    from serlive.audio.sources import FileSource
    from serlive.gui.app import application
    from serlive.gui.main_window import MainWindow
    from serlive.model import EmotionModel

    app = application()
    from serlive.preload import _warm_up

    _warm_up()  # as the app does on a thread once its window is up: the first tick does not import scipy.fft
    settings = QSettings(str(Path("/tmp") / "serlive-bench.ini"), QSettings.Format.IniFormat)
    win = MainWindow(EmotionModel(num_threads=1), settings=settings)
    win.resize(1280, 760)
    win.show()
    live = win.live
    live.adaptive_hop = args.hop_policy == "adaptive"
    # at most 5 minutes of signal, looped: an hour's array (230 MB) would be counted in the RSS
    y = speech(min(args.seconds + 5, 300.0))
    rss: list[tuple[float, float]] = [(0.0, rss_mb())]
    repaint_ms: list[float] = []
    t_start = time.perf_counter()
    cpu_start = time.process_time()

    def sample() -> None:
        t = time.perf_counter() - t_start
        t0 = time.perf_counter()
        live.repaint()
        repaint_ms.append(1000 * (time.perf_counter() - t0))
        if int(t) % 10 == 0 and (not rss or t - rss[-1][0] >= 9.5):
            rss.append((t, rss_mb()))
        if t >= args.seconds:
            app.quit()

    ticks: list[float] = []
    orig_tick = live.tick

    def timed_tick() -> None:
        t0 = time.perf_counter()
        orig_tick()
        ticks.append(1000 * (time.perf_counter() - t0))

    pacer = QTimer()
    pacer.setInterval(1000)
    pacer.timeout.connect(sample)
    load = start_load(args.load)
    try:  # the busy loops end with the run, whatever happens to it
        live.start_source(FileSource(samples=y, realtime=True, loop=True))
        live.frame_times.clear()
        live.screen_latencies.clear()
        live.timer.timeout.disconnect()
        live.timer.timeout.connect(timed_tick)
        pacer.start()
        app.exec()
    finally:
        stop_load(load)
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - cpu_start
    stats = live.engine.stats() if live.engine else None
    live.stop()
    to_screen = list(live.screen_latencies)
    rss.append((wall, rss_mb()))
    tk = np.array(ticks)
    after_1min = [m for t, m in rss if t >= 60] or [rss[-1][1]]
    res = {
        "seconds": round(wall, 1),
        "platform": app.platformName(),
        "ticks": len(tk),
        "fps": round(len(tk) / wall, 1),
        "tick_ms_median": round(float(np.median(tk)), 2),
        "tick_ms_p95": round(float(np.percentile(tk, 95)), 2),
        "tick_ms_max": round(float(tk.max()), 2),
        "frame_ms_median": round(float(np.median(tk) + np.median(repaint_ms)), 2),
        "repaint_ms_median": round(float(np.median(repaint_ms)), 2),
        "repaint_ms_p95": round(float(np.percentile(repaint_ms, 95)), 2),
        "cpu_percent_of_core": round(100 * cpu / wall, 1),
        "rss_mb_start": round(rss[0][1], 1),
        "rss_mb_1min": round(after_1min[0], 1),
        "rss_mb_end": round(rss[-1][1], 1),
        "rss_mb_max": round(max(m for _, m in rss), 1),
        # one sample every 10 minutes (and the last): whether memory stays flat over a long run
        "rss_mb_by_10min": [round(m, 1) for t, m in rss if int(t) % 600 < 10] + [round(rss[-1][1], 1)],
        "windows": None if stats is None else stats.windows,
        "dropped_samples": None if stats is None else stats.dropped_samples,
        "hop_policy": args.hop_policy,
        "load_processes": args.load,
        "dropped_windows": None if stats is None else stats.dropped_windows,
        **ms_stats("decision_latency_ms", [] if stats is None else stats.latencies_s),
        **ms_stats("latency_to_screen_ms", to_screen),
        "widened_share": None
        if not stats or not stats.windows
        else round(stats.widened_windows / stats.windows, 3),
        "hop_changes": None if stats is None else stats.hop_changes,
        "hop_skipped_windows": None if stats is None else stats.hop_skipped_windows,
    }
    for k, v in res.items():
        print(f"{k:>28}: {v}")
    print("BENCH " + json.dumps(res))
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
