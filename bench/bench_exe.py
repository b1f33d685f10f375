"""Start-up time of the standalone executable: launch → window painted → first live frame painted.

Launches ``serlive`` (no arguments: the Live tab) with ``SERLIVE_TRACE=1``, which makes the app start
listening on the default input at once, as a click on Start would, and print
``serlive-trace: EVENT TIME`` when

* ``shown``: the main window has been painted (first event-loop turn after ``show()``);
* ``listening``: the input stream is open and running (what a click on Start does: the live engine
  with its own model instance, the PortAudio stream);
* ``live-frame``: the live view has painted its first frame of captured audio (the first 30 fps tick
  after the engine received samples, followed by a synchronous repaint of the window).

Times are ``time.time()`` in the app minus ``time.time()`` just before ``Popen``: they include the
bootloader (and for a one-file build the unpacking to a temp dir), Python start-up, the imports, the
model load, opening the microphone and, for ``live-frame``, the wait for the device's first audio
block (a property of the device and sound server: PulseAudio's null-sink monitor, the virtual
microphone used here and in CI, delivers its first block 0.4-1.7 s after the stream starts, from
source as from the executable).  ``SERLIVE_QUIT_AFTER`` then closes the
window; the run must end with exit code 0.

The microphone: the bench starts its own PulseAudio (``pulseaudio``, ``pactl``, ``pacat``; its own
``XDG_RUNTIME_DIR`` and ``PULSE_SERVER``, so a sound server already running plays no part) with a
16 kHz null sink whose monitor is the default source, the virtual microphone of ``.ci/run``.  By
default silence is played into the sink at 20 ms latency, so the source delivers audio continuously
as a running microphone does; ``--idle-mic`` plays nothing, and then the null sink delivers its first
block about 1.9 s after PortAudio's device scan whatever the app does.  Qt draws offscreen unless
``--platform xcb`` (then it needs ``$DISPLAY``).  Each run gets a fresh ``$XDG_CONFIG_HOME``, so saved
settings play no part.  One warm-up start comes first and is not counted: the first record stream of a
freshly started PulseAudio arrives 0.7 s late, whichever program opens it.  "first" is then the first
counted start of each executable (its files possibly not yet in the page cache), "median" the median of
the others.

    python bench/bench_exe.py                                   # dist/serlive/serlive, 5 runs
    python bench/bench_exe.py --exe dist/serlive/serlive --exe dist/onefile/serlive --exe .venv/bin/serlive

With ``--file CLIP`` each start opens that clip instead (the command line a user types to view a
file): ``shown`` is then the window painted with the clip still loading, and ``file-analysed`` the
clip's analysis drawn.  The row ``start→frame`` is ``live-frame`` minus ``shown`` per run: the traced
start presses Start as soon as the window is painted, so it is the first live frame's delay after Start.

    python bench/bench_exe.py --exe .venv/bin/serlive --file assets/example.wav

Prints a table and one ``BENCH {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start_virtual_mic(tmp: Path, feed: bool) -> tuple[dict[str, str], list[subprocess.Popen]]:
    """A PulseAudio daemon of our own: a 16 kHz null sink whose monitor is the default source (the
    virtual microphone of .ci/run), and with ``feed`` a low-latency stream of silence played into the
    sink, so the monitor delivers audio continuously, as a running microphone does.  An idle null sink
    delivers its first block up to 2 s after PortAudio's device scan, whoever asks."""
    for tool in ("pulseaudio", "pactl", "pacat"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_exe.py: {tool} not found (apt-get install pulseaudio pulseaudio-utils)")
    runtime = tmp / "pulse-runtime"
    runtime.mkdir(mode=0o700)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    daemon_env = dict(base, XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp))
    env = dict(daemon_env, PULSE_SERVER=f"unix:{runtime}/pulse/native")
    procs = [
        subprocess.Popen(
            [
                "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                "-L", "module-native-protocol-unix auth-anonymous=1",
                "-L", "module-null-sink sink_name=vmic16 rate=16000 channels=1 format=s16le",
            ],
            env=daemon_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    for _ in range(100):
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    default_source = ["pactl", "set-default-source", "vmic16.monitor"]
    subprocess.run(default_source, env=env, check=True, capture_output=True)
    if feed:
        with open("/dev/zero", "rb") as zeros:  # the child keeps its own copy of the descriptor
            feeder = ["pacat", "--playback", "--latency-msec=20", "--device=vmic16"]
            procs.append(subprocess.Popen(feeder, stdin=zeros, env=env))
        time.sleep(0.5)
    return env, procs


def launch(
    exe: str, env: dict[str, str], quit_after: float, timeout: float, files: list[str]
) -> dict[str, float | int]:
    """One start (``files`` on its command line): seconds from Popen to each traced event; the exit code."""
    with tempfile.TemporaryDirectory() as cfg:
        run_env = {**env, "XDG_CONFIG_HOME": cfg, "SERLIVE_TRACE": "1", "SERLIVE_QUIT_AFTER": str(quit_after)}
        t0 = time.time()
        proc = subprocess.run(
            [exe, *files], env=run_env, cwd=cfg, capture_output=True, text=True, timeout=timeout, check=False
        )
    out: dict[str, float | int] = {"rc": proc.returncode}
    for line in proc.stderr.splitlines():
        if line.startswith("serlive-trace: "):
            event, t = line.split()[1:3]
            out.setdefault(event, float(t) - t0)
    if "live-frame" in out and "shown" in out:
        out["start→frame"] = float(out["live-frame"]) - float(out["shown"])
    if proc.returncode != 0 or ("file-analysed" if files else "live-frame") not in out:
        sys.stderr.write(proc.stderr[-2000:])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exe", action="append", help="executable (repeatable; default dist/serlive/serlive)")
    ap.add_argument("--runs", type=int, default=5, help="starts per executable, after one warm-up start")
    ap.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM (default offscreen)")
    ap.add_argument("--quit-after", type=float, default=4.0, help="SERLIVE_QUIT_AFTER, seconds")
    ap.add_argument("--idle-mic", action="store_true", help="play nothing into the virtual microphone")
    ap.add_argument("--file", help="open this clip at each start (the viewer) instead of listening")
    args = ap.parse_args()
    files = [str(Path(args.file).resolve())] if args.file else []
    # absolute: each run starts in a temp dir (the app must not depend on the working directory)
    exes = [str(Path(e).resolve()) for e in args.exe or [REPO / "dist" / "serlive" / "serlive"]]

    with tempfile.TemporaryDirectory() as tmp:
        env, procs = start_virtual_mic(Path(tmp), feed=not args.idle_mic)
        env["QT_QPA_PLATFORM"] = args.platform
        try:
            timeout = 60 + args.quit_after
            # the first record stream of a freshly started PulseAudio comes 0.7 s late, whoever opens it
            warmup = launch(exes[0], env, args.quit_after, timeout, files)
            print(f"warm-up start (not counted): {warmup}")
            results = {
                e: [launch(e, env, args.quit_after, timeout, files) for _ in range(args.runs)] for e in exes
            }
        finally:
            for proc in reversed(procs):  # the feeder, then the daemon: by PID
                proc.terminate()
                proc.wait(timeout=10)

    print(f"{'executable':<45} {'event':<11} {'first':>7} {'median':>7} {'max':>7}   (s from launch)")
    summary = {}
    for exe, runs in results.items():
        summary[exe] = {"runs": len(runs), "exit_codes": sorted({int(r["rc"]) for r in runs})}
        for event in ("shown", "listening", "live-frame", "start→frame", "file-analysed", "no-input-device"):
            ts = [float(r[event]) for r in runs if event in r]
            if not ts:
                continue
            rest = ts[1:] or ts
            summary[exe][event] = {"first": ts[0], "median": statistics.median(rest), "max": max(ts)}
            print(f"{exe[-45:]:<45} {event:<11} {ts[0]:7.3f} {statistics.median(rest):7.3f} {max(ts):7.3f}")
        print(f"{'':<45} exit codes {summary[exe]['exit_codes']}")
    mic = "idle null sink" if args.idle_mic else "null sink fed with silence (20 ms)"
    bench = {
        "bench": "exe_start",
        "platform": args.platform,
        "mic": mic,
        "file": args.file,
        "results": summary,
    }
    print("BENCH " + json.dumps(bench, ensure_ascii=False))
    done = "file-analysed" if files else "live-frame"
    ok = all(s["exit_codes"] == [0] and done in s for s in summary.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
