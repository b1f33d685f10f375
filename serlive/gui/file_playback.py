"""The file viewer's playback (Play/Stop from the cursor), as a mixin of :class:`FileView`.

The file itself plays, at its own rate and channels, read in blocks by
:class:`serlive.audio.player.Feeder` (issue 28, item 14); the cursor is in file seconds either way.

Split from ``file_view.py`` (issue 20, the house).  The view provides ``loaded``, ``play_button``,
``play_timer`` (which calls :meth:`PlaybackMixin._follow_playback`), ``set_cursor`` and the
``_player``/``_play_pos`` state; the output stream's callback only copies samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from serlive.gui import messages
from serlive.gui.file_model import status_line


class PlaybackMixin:
    """Play the loaded file from the cursor through the default output device."""

    loaded: Any
    play_button: Any
    play_timer: Any
    _player: Any
    _play_pos: int  #: the cursor, in samples of the analysis copy (``loaded.sample_rate``)
    _feeder: Any = None  #: the :class:`serlive.audio.player.Feeder` of the stream playing
    #: why the analysis copy plays instead of the file ("" when the file itself plays)
    playback_note: str = ""
    selection: tuple[float, float] | None  # the view's (file_selection.py)

    model: Any
    status_changed: Any  # the view's signal
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
        from serlive.audio.io import AudioLoadError
        from serlive.audio.player import Feeder
        from serlive.audio.sources import PORTAUDIO_LOCK, AudioDeviceError, load_backend

        try:
            sd = load_backend()
            with PORTAUDIO_LOCK:  # not beside the live tab's Refresh re-initialising PortAudio
                out_dev = sd.query_devices(kind="output")
        except AudioDeviceError as exc:
            messages.show_error(self, "No audio output", f"Cannot play: {exc}")
            return False
        except Exception:
            messages.show_error(self, "No audio output", "Cannot play: no audio output device found.")
            return False
        d = self.loaded
        start_s, end_s = self._play_pos / d.sample_rate, None
        if start_s >= len(d.samples) / d.sample_rate:
            start_s = self._play_pos = 0
        if self.selection is not None:  # a selection plays from its start to its end (issue 28, item 15)
            start_s, end_s = self.selection
        # the file itself, at its own rate and channels (issue 28, item 14); the analysis copy where
        # the file cannot be read or played any more (moved, changed, a rate the device refuses)
        note = ""
        try:
            max_channels = int(dict(out_dev).get("max_output_channels", 2) or 2)
            feeder = Feeder.for_file(d.path, start_s, max_channels, end_s, stop_exception=sd.CallbackStop)
            player = self._open_output(sd, feeder)
        except AudioLoadError as exc:
            feeder, player, note = None, None, f"cannot play the file itself: {exc.reason}"
        except Exception as exc:
            feeder, player, note = None, None, f"the output refused the file's own format ({exc})"
        if player is None:
            copy = Feeder.for_samples(
                d.samples, d.sample_rate, start_s, end_s, stop_exception=sd.CallbackStop
            )
            try:
                player = self._open_output(sd, copy)
            except Exception as exc:
                messages.show_error(self, "Cannot play", f"The audio output could not be opened ({exc}).")
                return False
            feeder = copy
        self._player, self._feeder = player, feeder
        self.playback_note = note and f"playing the {d.sample_rate} Hz mono analysis copy: {note}"
        if note:  # said where the file's own line is, not in a box at every Play
            self.status_changed.emit(f"{status_line(d, self.model)}  |  {self.playback_note}")
        self.play_button.setText("Stop")
        self.play_timer.start()
        return True

    @staticmethod
    def _open_output(sd: Any, feeder: Any) -> Any:
        """An output stream at ``feeder``'s rate and channels, started; the feeder reads ahead from now."""
        from serlive.audio.sources import PORTAUDIO_LOCK

        player = None
        try:
            with PORTAUDIO_LOCK:
                player = sd.OutputStream(
                    samplerate=feeder.rate,
                    channels=feeder.channels,
                    dtype="float32",
                    callback=feeder.callback,
                )
            feeder.start()
            with PORTAUDIO_LOCK:
                player.start()
        except Exception:
            feeder.close()  # the file is let go of whatever failed
            if player is not None:
                with PORTAUDIO_LOCK:
                    player.close()
            raise
        return player

    def stop_playback(self) -> None:
        """Stop and close the output stream; the next Play goes on from where this one got to."""
        p, self._player = self._player, None
        feeder, self._feeder = self._feeder, None
        if p is not None:
            try:
                p.stop()
                p.close()
            except Exception:
                pass
        if feeder is not None:
            feeder.close()
            if self.loaded is not None:
                self._play_pos = round(feeder.position_s * self.loaded.sample_rate)
        self.play_timer.stop()
        self.play_button.setText("Play")

    def _follow_playback(self) -> None:
        if self.loaded is None:
            return
        feeder = self._feeder
        if feeder is not None:  # frames handed to the device minus its output latency: what is audible now
            latency = float(getattr(self._player, "latency", 0.0) or 0.0)
            self.set_cursor(max(0.0, feeder.position_s - latency))  # file seconds, whatever its rate
        if self._player is not None and not self._player.active:
            self.stop_playback()
