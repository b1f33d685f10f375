"""``predict``'s progress on a terminal (tqdm) and the summary line at the end of a run.

Why tqdm rather than the hand-written bar it replaces: a run over an archive lasts hours, and
what one wants to see then (the rate, the time left, a bar that fits the terminal's width and
redraws a few times a second rather than once per file) is what tqdm already does well.  The
audio done is counted in hours beside the files, since files of an archive differ a hundredfold
in length: ``2.31 h audio, 38x real time``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class PredictProgress:
    """Files done of total, hours of audio, rate and time left on stderr (when a terminal, or forced)."""

    def __init__(
        self, total: int, skipped: int = 0, enabled: bool | None = None, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.skipped = total, skipped
        self.enabled = (self.stream.isatty() and total > 1) if enabled is None else enabled
        self.done = self.failed = 0
        self.audio_s = 0.0
        self.t0 = time.monotonic()
        self.bar: Any = None
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                unit="file",
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0.25,
                smoothing=0.1,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} files "
                "[{elapsed}<{remaining}, {rate_fmt}]{postfix}",
            )

    def step(self, result: Any) -> None:
        """Count one file: an analysis (its duration is added) or a failure (a string)."""
        self.done += 1
        if isinstance(result, str):
            self.failed += 1
        else:
            self.audio_s += float(getattr(result, "duration_s", 0.0))
        if self.bar is not None:
            elapsed = max(1e-9, time.monotonic() - self.t0)
            self.bar.set_postfix_str(
                f"{self.audio_s / 3600:.2f} h audio, {self.audio_s / elapsed:.0f}x real time", refresh=False
            )
            self.bar.update(1)

    def summary(self) -> str:
        """One line: files, skipped, failed, hours of audio, time, and the speed against real time."""
        elapsed = time.monotonic() - self.t0
        parts = [f"{self.done} file{'' if self.done == 1 else 's'} analysed"]
        if self.skipped:
            parts.append(f"{self.skipped} already in the output")
        if self.failed:
            parts.append(f"{self.failed} failed")
        speed = f", {self.audio_s / elapsed:.0f}x real time" if elapsed > 0 and self.audio_s else ""
        return (
            f"serlive predict: {', '.join(parts)}; {self.audio_s / 3600:.2f} h of audio in "
            f"{_clock(elapsed)}{speed}"
        )

    def close(self, summary: bool | None = None) -> None:
        """End the bar; print the summary when a bar was shown, or when ``summary`` asks."""
        if self.bar is not None:
            self.bar.close()
        if self.enabled if summary is None else summary:
            print(self.summary(), file=self.stream, flush=True)
