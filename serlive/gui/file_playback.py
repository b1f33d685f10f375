"""The file viewer's playback (Play/Stop from the cursor), as a mixin of :class:`FileView`.

Split from ``file_view.py`` (issue 20, the house).  The view provides ``loaded``, ``play_button``,
``play_timer`` (which calls :meth:`PlaybackMixin._follow_playback`), ``set_cursor`` and the
``_player``/``_play_pos`` state; the output stream's callback only copies samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.gui import messages


class PlaybackMixin:
    """Play the loaded file from the cursor through the default output device."""

    loaded: Any
    play_button: Any
    play_timer: Any
    _player: Any
    _play_pos: int

    set_cursor: Callable[[float], None]  # the view's

    def toggle_playback(self) -> None:
        """Play from the cursor, or stop."""
        if self._player is not None:
            self.stop_playback()
        else:
            self.start_playback()

    def start_playback(self) -> bool:
        """Open the default output device; a clear message where there is none."""
        if self.loaded is None:
            return False
        from serlive.audio.sources import PORTAUDIO_LOCK, AudioDeviceError, load_backend

        try:
            sd = load_backend()
            with PORTAUDIO_LOCK:  # not beside the live tab's Refresh re-initialising PortAudio
                sd.query_devices(kind="output")
        except AudioDeviceError as exc:
            messages.show_error(self, "No audio output", f"Cannot play: {exc}")
            return False
        except Exception:
            messages.show_error(self, "No audio output", "Cannot play: no audio output device found.")
            return False
        y = self.loaded.samples
        if self._play_pos >= len(y):
            self._play_pos = 0

        def callback(out: NDArray[np.float32], frames: int, _t: Any, _s: Any) -> None:
            chunk = y[self._play_pos : self._play_pos + frames]
            out[: len(chunk), 0] = chunk
            out[len(chunk) :, 0] = 0
            self._play_pos += len(chunk)
            if len(chunk) < frames:
                raise sd.CallbackStop

        try:
            with PORTAUDIO_LOCK:
                self._player = sd.OutputStream(
                    samplerate=self.loaded.sample_rate, channels=1, dtype="float32", callback=callback
                )
                self._player.start()
        except Exception as exc:
            self._player = None
            messages.show_error(self, "Cannot play", f"The audio output could not be opened ({exc}).")
            return False
        self.play_button.setText("Stop")
        self.play_timer.start()
        return True

    def stop_playback(self) -> None:
        """Stop and close the output stream."""
        p, self._player = self._player, None
        if p is not None:
            try:
                p.stop()
                p.close()
            except Exception:
                pass
        self.play_timer.stop()
        self.play_button.setText("Play")

    def _follow_playback(self) -> None:
        if self.loaded is None:
            return
        # samples handed to the device minus its output latency: what is audible now
        latency = float(getattr(self._player, "latency", 0.0) or 0.0) if self._player is not None else 0.0
        self.set_cursor(max(0.0, self._play_pos / self.loaded.sample_rate - latency))
        if self._player is not None and not self._player.active:
            self.stop_playback()
