"""Drive the real app and save screenshots of the File and Live tabs (run by screenshots.sh).

Usage: python scripts/screenshots.py file AUDIO OUT.png [WxH]
       python scripts/screenshots.py live PLAY_CMD OUT.png [WxH]   (PLAY_CMD: shell command that plays speech
                                                              into the microphone, run once capture has begun)
WxH: the window's size (default 1400x900; the docs also show 1000x650, a small laptop's window).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer

from serlive.gui.app import application
from serlive.gui.main_window import MainWindow
from serlive.model import EmotionModel


def save(win: MainWindow, out: str) -> None:
    """Grab the whole window (menus, status bar) and write a small PNG."""
    img = win.grab().toImage()
    img.save(out, "PNG", 9)
    print(f"wrote {out}", flush=True)


def main() -> int:
    mode, arg, out = sys.argv[1:4]
    width, height = (int(v) for v in (sys.argv[4] if len(sys.argv) > 4 else "1400x900").split("x"))
    app = application()
    # settings of their own: the user's saved geometry, device and recent files stay out of it
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "screenshots.ini"), QSettings.Format.IniFormat)
    win = MainWindow(EmotionModel(num_threads=1), settings=settings)
    win.resize(width, height)
    win.show()
    t0 = time.monotonic()
    player: list[subprocess.Popen] = []

    if mode == "file":
        labelled: list[bool] = []  # the utterances' spans and labels are on the waveform
        win.segments.ready.connect(lambda: labelled.append(True))
        win.open_file(arg)

        def poll_file() -> None:
            # a 10-minute file takes minutes on a busy 2-core machine: wait for its spans too
            if (win.file.loaded is not None and labelled) or time.monotonic() - t0 > 900:
                win.file.seek(win.file.loaded.analysis.duration_s * 0.4 if win.file.loaded else 0)
                if len(sys.argv) > 5 and win.file.loaded:  # a window of this many seconds at the cursor
                    t = win.file.loaded.analysis.duration_s * 0.4
                    win.file.wave_plot.setXRange(t - 5, t - 5 + float(sys.argv[5]), padding=0)
                QTimer.singleShot(500, lambda: (save(win, out), app.quit()))
            else:
                QTimer.singleShot(100, poll_file)

        QTimer.singleShot(100, poll_file)
    else:
        if not win.live.select_device("pulse"):
            print("no 'pulse' input device", file=sys.stderr)
        win.live.start()

        def poll_live() -> None:
            eng = win.live.engine
            if eng is None:
                app.quit()
                return
            if not player and eng.samples_received > 0:
                player.append(subprocess.Popen(arg, shell=True))
            if player and win.live.results_seen > 36:  # 20 s of decisions, taken while speech plays
                save(win, out)
                player[0].kill()
                win.live.stop()
                app.quit()
            elif time.monotonic() - t0 > 90:
                save(win, out)
                app.quit()
            else:
                QTimer.singleShot(200, poll_live)

        QTimer.singleShot(200, poll_live)
    app.exec()
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
