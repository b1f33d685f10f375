"""Live view: microphone → engine → waveform, scrolling log-mel, rolling probabilities, current emotion.

Threads: the engine's worker analyses windows; this widget never waits on it.
A 30 fps QTimer drains ``engine.results`` (non-blocking), reads the newest
samples with ``engine.ring.latest``/``read`` (lock-free), and computes only
the spectrogram columns that appeared since the last tick, so a frame costs
a few small FFTs and a redraw.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from serlive.audio.server import ServerInfo, list_server_sources
from serlive.audio.sources import (
    AudioDeviceError,
    AudioSource,
    DeviceUnreachableError,
    InputDevice,
    list_input_devices,
    reinitialize_portaudio,
)
from serlive.config import DEFAULT_FEATURES
from serlive.gui import messages
from serlive.gui.arrays import RollingEnvelope
from serlive.gui.colors import NO_SPEECH_COLOR, emotion_color
from serlive.gui.live_devices import DeviceListMixin, pulse_source
from serlive.gui.live_draw import SPEC_S, WAVE_S, LiveDrawMixin
from serlive.gui.live_record import RecordMixin
from serlive.gui.live_state import HISTORY_S, LiveState, loudest_dbfs, no_speech_text, strip_columns
from serlive.gui.plots import (
    STRIP_AXIS_WIDTH,
    EmotionBars,
    EmotionLegend,
    EmotionStrip,
    LevelMeter,
    TimeAxis,
    emotion_pen,
    follow_labels,
    plain_menu,
    spectrogram_item,
    whole_edge_ticks,
)
from serlive.labelsets import LabelSet
from serlive.live.engine import Engine, Result

FPS = 30


class LiveView(DeviceListMixin, RecordMixin, LiveDrawMixin, QWidget):
    """The live tab.  ``model_path`` None: the shipped model; each start builds a fresh Engine."""

    #: one line for the main window's status bar
    status_changed = Signal(str)
    #: (devices, error) from the helper thread that re-initialised PortAudio
    _devices_scanned = Signal(object, object)
    #: the sound server's sources (ServerInfo or None), from a helper thread running pactl
    _server_listed = Signal(object)

    def __init__(
        self,
        model_path: str | Path | None,
        labels: tuple[str, ...],
        list_devices: Callable[[], list[InputDevice]] = list_input_devices,
        parent: QWidget | None = None,
        rescan: Callable[[], None] | None = reinitialize_portaudio,
        server_sources: Callable[[], ServerInfo | None] | None = list_server_sources,
    ) -> None:
        super().__init__(parent)
        self.model_path = model_path
        self.labels = labels
        #: the calibration profile each Start's engine judges through (None: the general model)
        self.profile: Any = None
        self._list_devices = list_devices
        #: Refresh re-initialises PortAudio with this (it lists devices only when initialised)
        self._rescan = rescan
        #: called before that (the main window stops file playback: re-initialising closes every stream)
        self.before_rescan: Callable[[], None] | None = None
        #: True while PortAudio is being re-initialised on the helper thread
        self.scanning = False
        self._devices_scanned.connect(self._on_scanned)
        #: asks the sound server for its source descriptions (pactl; None: PortAudio's names only)
        self._server_sources = server_sources
        self.server: ServerInfo | None = None
        self._source: AudioSource | None = None  #: the source of the current (or last) run
        self._source_label: str | None = None  #: its name when not the device's (a server source)
        self._server_listed.connect(self._on_server_listed)
        self.engine: Engine | None = None
        self.devices: list[InputDevice] = []
        self.record_path: str | None = None
        #: the run's decisions, curves and status line (no widgets: tests drive it directly)
        self.state = LiveState(len(labels), HISTORY_S)
        self.frame_times: deque[float] = deque(maxlen=600)  #: seconds per tick, for the bench
        #: seconds from each window's last sample arriving to the end of the tick that drew its result
        #: (the engine's latency plus the wait for a tick and the tick's drawing), for the bench
        self.screen_latencies: deque[float] = deque(maxlen=10_000)
        #: the engine widens its hop to 1 s while the computer is busy (tests that count windows turn it off)
        self.adaptive_hop = True
        self._spec_next_frame = 0
        self._level_pos = 0
        self._wave_env: RollingEnvelope | None = None  # the waveform's envelope, made for each run
        self._clip_until = 0.0
        self._ticks = 0
        self._extractor: Any = None
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / FPS))
        self.timer.timeout.connect(self.tick)
        self.refresh_devices()
        self._ask_server()

    # --- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Input:"))
        self.device_combo = QComboBox()
        self.device_combo.setMinimumWidth(150)  # the row fits a 1000-pixel window (tooltip: the whole name)
        controls.addWidget(self.device_combo, 1)
        # the whole name where a narrow window cuts it ("Monitor of Virtual_microphone v" at 1000x650)
        self.device_combo.currentTextChanged.connect(self.device_combo.setToolTip)
        # the rate the open stream really runs at (the list shows the device's default rate)
        self.rate_label = QLabel("")
        # as wide as its longest text, so the row does not move when it fills in
        widest = self.rate_label.fontMetrics().horizontalAdvance("44.1 kHz → 16 kHz")
        self.rate_label.setFixedWidth(widest + 8)
        self.rate_label.setToolTip("The sample rate of the open input stream (→ the model's, resampled)")
        controls.addWidget(self.rate_label)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip(
            "Look for input devices again (a microphone plugged in, a sound server started)"
        )
        self.refresh_button.clicked.connect(lambda: self.refresh_devices(rescan=True))
        controls.addWidget(self.refresh_button)
        controls.addWidget(QLabel("Hop:"))
        self.hop_spin = _spin(0.1, 3.0, 0.1, 0.5, suffix=" s")
        #: the model's frame hop: the hop is a multiple of it (set by the main window from the model)
        self.frame_hop_s = DEFAULT_FEATURES.hop_length / DEFAULT_FEATURES.sample_rate
        self.set_frame_hop(self.frame_hop_s)
        controls.addWidget(self.hop_spin)
        controls.addWidget(QLabel("Smoothing:"))
        self.smooth_spin = _spin(0.0, 0.95, 0.05, 0.5)
        self.smooth_spin.setToolTip("Weight of the past in the exponential smoothing; 0 = off")
        controls.addWidget(self.smooth_spin)
        self.record_check = QCheckBox("Record")
        self.record_check.setToolTip(
            "Write the captured audio to a WAV file (Ctrl+R): while listening, from this moment until "
            "it is unticked; when stopped, from the next Start.  An existing file is never overwritten "
            "(the next take goes to name-2.wav, name-3.wav, ...)"
        )
        self.record_check.toggled.connect(self._record_toggled)
        controls.addWidget(self.record_check)
        self.record_file_button = QPushButton("Choose file…")
        self.record_file_button.setToolTip("Choose the file to record to")
        self.record_file_button.setFixedWidth(150)  # the row does not jump when the name changes
        self.record_file_button.clicked.connect(self.choose_record_file)
        controls.addWidget(self.record_file_button)
        self.start_button = QPushButton("Start")
        # as wide as its longer text, so the row never moves when it reads "Stop" instead of "Start"
        fm = self.start_button.fontMetrics()
        self.start_button.setFixedWidth(max(80, 32 + max(fm.horizontalAdvance(t) for t in ("Start", "Stop"))))
        self.start_button.clicked.connect(self.toggle)
        controls.addWidget(self.start_button)
        root.addLayout(controls)
        # Space is Start/Stop everywhere on this tab.  A clicked button or check box would otherwise
        # keep the keyboard focus and take Space for itself when the shortcut does not see the key
        # (the window not active yet after the save dialog closed): Record unticked, path forgotten.
        # So they take focus only by Tab, and one that has it passes Space on to Start/Stop.
        for w in (self.refresh_button, self.record_check, self.record_file_button, self.start_button):
            w.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        for w in (self.refresh_button, self.record_check, self.record_file_button):
            w.installEventFilter(self)
        # Space on an action, not on the button: QAbstractButton.setText("Stop") replaces the button's
        # shortcut with the new text's mnemonic, so a button's Space worked once (issue 20, item 7)
        self.start_stop_action = QAction("Start/Stop", self)
        self.start_stop_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        # the window's shortcut while this tab is shown (the File tab's Space is Play)
        self.start_stop_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.start_stop_action.triggered.connect(self._space)
        self.addAction(self.start_stop_action)
        # ... so the keyboard needs another way to tick Record: Ctrl+R, anywhere on this tab
        self.record_action = QAction("Record", self)
        self.record_action.setShortcut(QKeySequence("Ctrl+R"))
        # the window's shortcut while this tab is shown (an action of a hidden widget does not fire)
        self.record_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.record_action.triggered.connect(self._toggle_record)
        self.addAction(self.record_action)
        # Session adaptation: after enough speech, judge the voice against itself (Listen menu).
        # May be switched while listening: the engine keeps the session's statistics either way.
        self.adapt_action = QAction("Adapt to the speaker's voice", self)
        self.adapt_action.setCheckable(True)
        self.adapt_action.setChecked(True)
        self.adapt_action.toggled.connect(self._adapt_toggled)

        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel { background: #fff3bf; color: #5c3c00; padding: 6px; }")
        self.notice.hide()
        root.addWidget(self.notice)

        grid = QGridLayout()
        root.addLayout(grid, 1)
        self.wave_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis(ago=True)})
        self.wave_plot.setYRange(-1, 1, padding=0)
        self.wave_plot.setXRange(-WAVE_S, 0, padding=0)
        self.wave_plot.setMouseEnabled(False, False)
        self.wave_plot.setLabel("left", "waveform")
        # a bare curve: PlotDataItem's setData machinery (signals, dataset copies, finite checks) cost
        # 0.4 ms of every 30 fps tick for an envelope that is always finite and never needs it
        self.wave_curve = pg.PlotCurveItem(pen=pg.mkPen("#8ce99a", width=1), skipFiniteCheck=True)
        self.wave_plot.addItem(self.wave_curve)
        grid.addWidget(self.wave_plot, 0, 0)

        self.spec_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis(ago=True)})
        self.spec_plot.setMouseEnabled(False, False)
        self.spec_item = spectrogram_item()
        self.spec_plot.addItem(self.spec_item)
        self.spec_plot.setXRange(-SPEC_S, 0, padding=0)
        self._fit_spectrogram(DEFAULT_FEATURES)
        grid.addWidget(self.spec_plot, 1, 0)

        self.prob_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis(ago=True)})
        self.prob_plot.setMouseEnabled(False, False)
        self.prob_plot.setYRange(0, 1, padding=0.02)
        self.prob_plot.setXRange(-HISTORY_S, 0, padding=0)
        self.prob_plot.setLabel("left", "probability")
        for p in (self.wave_plot, self.spec_plot, self.prob_plot):
            p.setLabel("bottom", "seconds ago")
            p.getAxis("left").enableAutoSIPrefix(False)
            p.getAxis("left").setWidth(STRIP_AXIS_WIDTH)  # one left edge for the three plots and the strip
            whole_edge_ticks(p)
            plain_menu(p, view_all=False)  # nothing to zoom; File ▸ Export view exports the tab
        self.prob_curves = [
            self.prob_plot.plot(pen=emotion_pen(lb), name=lb, connect="finite") for lb in self.labels
        ]
        prob_box = QVBoxLayout()
        prob_box.setContentsMargins(0, 0, 0, 0)
        prob_box.setSpacing(0)
        # the last minute's top emotions as a rolling strip over the curves (its image changes per decision)
        self.strip = EmotionStrip(self.labels, ago=True)
        self.strip.setXRange(-HISTORY_S, 0, padding=0)
        self.prob_plot.getAxis("left").setWidth(STRIP_AXIS_WIDTH)
        prob_box.addWidget(self.strip)
        prob_box.addWidget(self.prob_plot, 1)
        self.legend = EmotionLegend(self.labels, self.prob_curves)
        prob_box.addWidget(self.legend)
        grid.addLayout(prob_box, 2, 0)

        side = QVBoxLayout()
        self.emotion_label = QLabel("—")
        font = QFont()
        font.setPointSize(32)
        font.setBold(True)
        self.emotion_label.setFont(font)
        self.emotion_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.emotion_label.setMinimumWidth(260)
        side.addWidget(self.emotion_label)
        self.confidence_label = QLabel("stopped")
        self.confidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        side.addWidget(self.confidence_label)
        self.bars = EmotionBars(self.labels)
        side.addWidget(self.bars, 1)
        meter = QHBoxLayout()
        meter.addWidget(QLabel("Level"))
        self.level_bar = LevelMeter(-60, 0)
        meter.addWidget(self.level_bar, 1)
        self.clip_label = QLabel("CLIP")
        self._clip_on: bool | None = None  # the light's state, None before it is first set
        self.clip_label.setToolTip("Lit for a second after a sample reaches full scale")
        meter.addWidget(self.clip_label)
        side.addLayout(meter)
        self._set_clip(False)
        grid.addLayout(side, 0, 1, 3, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 1)

    def set_frame_hop(self, seconds: float) -> None:
        """The model's frame hop: the hop is rounded to a multiple of it (0.01 s shipped, 0.02 s the CNN)."""
        self.frame_hop_s = float(seconds)
        ms = 1000 * self.frame_hop_s
        self.hop_spin.setToolTip(
            f"Seconds between decisions (a multiple of the model's {ms:g} ms frame hop); while the computer "
            "is busy, a wider one (1 s for 0.5 s; the status bar says so)"
        )

    def show_notice(self, text: str) -> None:
        """A plain sentence above the plots (no device, stream ended with an error)."""
        self.notice.setText(text)
        self.notice.show()

    def hide_notice(self) -> None:
        """Hide the notice."""
        self.notice.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Space on a focused control of the tab is Start/Stop, never a click on that control."""
        if (
            event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            if event.type() == QEvent.Type.KeyPress and not event.isAutoRepeat():
                self.toggle()
            return True
        return super().eventFilter(watched, event)

    # --- start / stop ------------------------------------------------------------------
    def _space(self) -> None:
        """Space: Start/Stop when the button could be clicked (not while devices are being listed)."""
        if self.start_button.isEnabled():
            self.toggle()

    def toggle(self) -> None:
        """Start when stopped, stop when running."""
        if self.engine is not None and self.engine.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        """Open the selected microphone and start the engine; problems become a message box."""
        if self.scanning:  # Space while Refresh looks for devices: the list is about to change
            return
        if not self.devices:
            messages.show_error(self, "No input device", "There is no audio input device to listen to.")
            return
        from serlive.audio.sources import MicrophoneSource

        chosen = self.device_combo.currentData()
        label, via = None, None
        if isinstance(chosen, str):  # one of the sound server's other sources, recorded through "pulse"
            via = self._server_device()
            if via is None:
                gone = "The sound server's device is gone: press Refresh."
                messages.show_error(self, "No input device", gone)
                return
            label = self.device_combo.currentText().rsplit(" — ", 1)[0]
        with pulse_source(chosen if isinstance(chosen, str) else None):
            try:
                source = MicrophoneSource(via.index if via is not None else chosen)
            except AudioDeviceError as exc:
                messages.show_error(self, "Cannot open the microphone", str(exc))
                if isinstance(exc, DeviceUnreachableError):
                    self.refresh_devices(rescan=True)  # what is there now: the dead device leaves the list
                return
            self.start_source(source, label=label)

    def start_source(self, source: AudioSource, label: str | None = None) -> bool:
        """Start the engine on any source (the microphone, or a FileSource for tests and demos).

        ``label``: how the status bar names the source (default: the device's name or description).
        """
        from serlive.audio.record import RecordError
        from serlive.audio.sources import AudioDeviceError as DevErr
        from serlive.live.engine import EngineError
        from serlive.model import EmotionModel, ModelError

        # one rule, the engine's: a multiple of the model's frame hop (it said 20 ms here, 0.02 s in
        # listen --help and 0.01 s in listen's error; issue 20, item 13)
        fh = self.frame_hop_s
        hop = round(round(self.hop_spin.value() / fh) * fh, 6)
        try:
            # an existing file is never overwritten: the engine numbers the take (take-2.wav, ...)
            record = self.record_path if self.record_check.isChecked() else None
            model: Any = self.model_path
            if self.profile is not None:
                model = EmotionModel(self.model_path, num_threads=1, profile=self.profile)
            self.engine = Engine(
                model,
                hop_s=hop,
                smoothing=self.smooth_spin.value(),
                record=record,
                adapt=self.adapt_action.isChecked(),
                skip_silent=True,  # no-speech windows are never drawn: no encoder for them (issue 19)
                adaptive_hop=self.adaptive_hop,  # fewer windows while busy, each on time (issue 19)
            )
            self._extractor = self.engine.extractor
            self._fit_spectrogram(self._extractor.cfg)
            self.engine.start(source)
        except (DevErr, RecordError, EngineError, ModelError, ValueError, OSError) as exc:
            self.engine = None
            messages.show_error(self, "Cannot start listening", str(exc))
            if isinstance(exc, DeviceUnreachableError):
                self.refresh_devices(rescan=True)
            return False
        self._reset_display()
        self.timer.start()
        self._set_running(True)
        rate = getattr(source, "sample_rate", 0)
        self._source = source  # named in the status bar (by the server's description once pactl answers)
        self._source_label = label
        model_rate = int(self.engine.sample_rate)
        # kHz: "48 kHz → 16 kHz" fits where "48000 Hz → 16000 Hz" pushed a 1000-pixel window wider
        self.rate_label.setText(
            f"{rate / 1000:g} kHz" + (f" → {model_rate / 1000:g} kHz" if rate and rate != model_rate else "")
        )
        self.hide_notice()
        self._update_status(self.engine)
        return True

    def stop(self, take_timeout: float = 0.0) -> None:
        """Stop the engine (bounded: returns within about 2 s whatever the device does).

        ``take_timeout``: how much longer to wait for an open take's file to be closed (see
        :meth:`Engine.stop`).  0 for the Stop button: the app lives on and the worker closes the take
        on its own, without holding up the GUI thread; quitting waits (:meth:`shutdown`).
        """
        if self.engine is not None:
            self.engine.stop(take_timeout=take_timeout)
            self.tick()  # drain the last results and the StreamEnd
        self.timer.stop()
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        if not running:
            self.rate_label.setText("")
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setEnabled(running or bool(self.devices))
        # Record and its file stay enabled: a take starts and ends on the running stream
        for w in (self.hop_spin, self.smooth_spin, self.device_combo, self.refresh_button):
            w.setEnabled(not running and (w is not self.device_combo or bool(self.devices)))
        if not running:
            self.confidence_label.setText("stopped")
            if self.results_seen == 0:  # stopped (or the stream died) before its first decision
                self.emotion_label.setText("—")
                self.emotion_label.setStyleSheet(f"color: {NO_SPEECH_COLOR}")

    def _reset_display(self) -> None:
        """A new run starts from nothing: the previous run's curves, latency, level and clip light would
        otherwise be shown as this run's (beside "windows 0") until its first decision."""
        self.state.reset()
        self._spec_next_frame = 0
        self._level_pos = 0
        self._wave_env = None
        self._clip_until = 0.0
        self._set_clip(False)
        self.level_bar.setValue(self.level_bar.minimum())
        for curve in (*self.prob_curves, self.wave_curve):
            curve.setData([], [])
        self.strip.clear_windows()
        self.spec_buf.fill(-120.0)
        self.spec_item.setImage(self.spec_buf, autoLevels=False)
        self.emotion_label.setText("listening…")
        self.emotion_label.setStyleSheet(f"color: {NO_SPEECH_COLOR}")
        self.confidence_label.setText("first decision after 3 s")
        self.bars.set_values(None)

    # --- the 30 fps tick ---------------------------------------------------------------
    def tick(self) -> None:
        """Drain results, draw the newest audio; never blocks."""
        t0 = time.perf_counter()
        eng = self.engine
        if eng is None:
            return
        results, ended = eng.drain()
        last = self.state.add(results)
        if last is not None:
            self._show_result(last)
        ring = eng.ring
        if ring is not None:
            self._draw_audio(ring, eng.sample_rate)
        self._ticks += 1
        drawn = time.perf_counter()
        for r in results:  # the arrival of the window's last sample is when it was made less its latency
            if r.latency_s is not None and r.produced_at is not None:
                self.screen_latencies.append(drawn - r.produced_at + r.latency_s)
        if self._ticks % 8 == 0 or ended is not None:  # 4 Hz: stats() copies the latency list
            self._update_status(eng, final=ended is not None)
        if ended is not None:
            self.timer.stop()
            self._set_running(False)
            if ended.error:
                self.show_notice(f"Listening stopped: {ended.error}")
        self.frame_times.append(time.perf_counter() - t0)

    def set_adaptable(self, adaptable: bool) -> None:
        """Offer session adaptation only for a model that has it."""
        self.adapt_action.setEnabled(adaptable)
        self.adapt_action.setToolTip(
            "Once enough speech is heard, judge this voice against itself rather than against everyone's "
            "(starts afresh at every Start)"
            if adaptable
            else "The model in use cannot adapt to a speaker"
        )

    def _adapt_toggled(self, on: bool) -> None:
        if self.engine is not None:
            self.engine.adapt = on  # read by the worker at its next window
            self._update_status(self.engine)

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show ``labelset``'s emotions (View ▸ Emotions shown): label, bars, curves and strip, now.

        A view of the kept probabilities (:class:`LiveState`), so a run goes on unchanged.
        """
        self.state.set_labelset(labelset)
        names = self.labels if self.state.labelset is None else self.state.labelset.names
        follow_labels(names, self.legend, self.bars, self.strip)
        if self.state.last is not None:
            self._show_result(self.state.last)
            if self.engine is None or not self.engine.running:
                self.confidence_label.setText("stopped")

    def _show_result(self, r: Result) -> None:
        r = self.state.shown(r)  # over the labels shown
        if r.silent:
            self.emotion_label.setText("no speech")
            self.emotion_label.setStyleSheet(f"color: {NO_SPEECH_COLOR}")
            # why: a -6 dBFS tone is not "too quiet", and a pause after speech is not a tone
            self.confidence_label.setText(no_speech_text(r, *self._newest_level()))
            self.bars.set_values(None)
        else:
            self.emotion_label.setText(r.label)
            self.emotion_label.setStyleSheet(f"color: {emotion_color(r.label)}")
            self.confidence_label.setText(f"confidence {100 * r.confidence:.0f} %")
            self.bars.set_values(r.shown)
        t, probs, silent = self.state.curves()
        for label, curve in zip(self.labels, self.prob_curves, strict=True):  # a label not shown: none
            shown = label in r.labels
            curve.setData(t if shown else [], probs[:, r.labels.index(label)] if shown else [])
        # a column per base hop, from a hop before a window's end to its end (where its curve point is);
        # a window after a gap (the adaptive hop's 1 s, late windows) fills the columns since the last
        step = float(self.engine.hop_s) if self.engine is not None else 0.5
        x0, columns, dark = strip_columns(t, probs, silent, step)
        self.strip.set_windows(x0, step, columns, dark)

    def _newest_level(self) -> tuple[float | None, float]:
        """The newest hop's loudest 20 ms in dBFS (None without a stream) and the level gate."""
        eng = self.engine
        if eng is None or eng.ring is None:
            return None, -50.0
        _, x = eng.ring.latest(eng.hop)
        return loudest_dbfs(x, max(1, eng.sample_rate // 50)), eng.silence_dbfs

    def _update_status(self, eng: Engine, final: bool = False) -> None:
        self.status_changed.emit(self.state.status_line(eng, self._device_text(), final))

    @property
    def results_seen(self) -> int:
        """Decisions of this run shown so far."""
        return self.state.results_seen

    @property
    def last_recording(self) -> Path | None:
        """The file the last (or current) take went to; None when it was not recorded."""
        return None if self.engine is None else self.engine.record_path

    def shutdown(self) -> None:
        """Stop everything (window closing).

        Waits up to 10 s more for a take's file to be closed: the process exits next, and a take whose
        worker was still in the model at the 2 s deadline lost its last second (issue 28, item 1).
        """
        self.stop(take_timeout=10.0)


def _spin(lo: float, hi: float, step: float, value: float, suffix: str = "") -> QDoubleSpinBox:
    """A two-decimal spin box for the live controls (hop, smoothing)."""
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setSuffix(suffix)
    spin.setValue(value)
    return spin
