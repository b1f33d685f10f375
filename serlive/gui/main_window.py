"""Main window: Live and File tabs, menus, drag and drop, persistent settings, About box."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QTabWidget,
    QWidget,
)

from serlive import __version__
from serlive.config import CORPUS_LICENCES
from serlive.gui import messages
from serlive.gui.file_view import FileView
from serlive.gui.live_view import LiveView
from serlive.gui.plots import plural
from serlive.gui.profile_menu import ProfileControl
from serlive.gui.segments_table import LiveUtterancesPanel, SegmentsPanel
from serlive.gui.status_fit import fit_status
from serlive.model import model_date, shipped_model_path

#: View ▸ Emotions shown: (``--labels`` spec, menu text); every view follows the choice
LABEL_CHOICES = (
    ("all", "&All emotions"),
    ("basic", "&Neutral, happy, sad, angry (calm counted as neutral)"),
)
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.au);;All files (*)"
MAX_RECENT = 8  #: File ▸ Open Recent holds this many files


class StatusLabel(QLabel):
    """The status line: shows what fits its width (:func:`status_fit.fit_status`), all of it as a tooltip.

    A plain label cut a long line off mid-word at about 1200 px (issue 28, item 5).  Its width is
    the status bar's to give (an ignored size hint), so a long line never widens the window.
    """

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._full = text
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self._fit()

    def set_line(self, text: str) -> None:
        """Show ``text``, shortened to the width where it does not fit."""
        self._full = text
        self._fit()

    def full_text(self) -> str:
        """The whole line, whatever shows."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        width = self.contentsRect().width() - 2 * self.margin() - 2  # a hair for rounding
        shown = fit_status(self._full, width, self.fontMetrics().horizontalAdvance)
        super().setText(shown)
        self.setToolTip("" if shown == self._full else self._full)


class MainWindow(QMainWindow):
    """``model`` is an already loaded EmotionModel (the file viewer's); the live engine loads its own."""

    def __init__(
        self,
        model: Any,
        model_path: str | Path | None = None,
        settings: QSettings | None = None,
        profile: Any = None,
    ):
        super().__init__()
        self.model = model
        self.model_path = model_path
        self.settings = settings or QSettings("serlive", "serlive")
        #: the calibration judging (Listen ▸ Profile), its menu, "Teach it my voice" and "This was…"
        self.profiles = ProfileControl(self, profile, model_path, self.settings)
        self.setWindowTitle(f"serlive {__version__} — speech emotion")
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.live = LiveView(model_path, tuple(model.labels))
        feats = model.meta.features
        self.live.set_frame_hop(feats.hop_length / feats.sample_rate)
        self.live.profile = profile
        self.live.set_adaptable(getattr(model, "adaptation", None) is not None)
        self.live_utterances = LiveUtterancesPanel(self.live)  # the last few utterances, under the view
        self.live.layout().addWidget(self.live_utterances)
        self.file = FileView(model)
        # the file's utterances under the viewer: spans on its waveform, a table, CSV export (issue 21)
        self.segments = SegmentsPanel(self.file)
        self.file.layout().addWidget(self.segments)
        # both tables' right-click "This was… ▸ <label>" teaches the active profile (issue 28)
        self.segments.table.profiles = self.live_utterances.table.profiles = self.profiles
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.file, "File")
        self.setCentralWidget(self.tabs)
        # The status line is a label in the status bar, not its temporary message: hovering a menu's items
        # sends status tips (empty ones too), which replace a temporary message and so cleared it.
        # Each tab has its own line (the File tab used to show the live statistics).
        self.status_label = StatusLabel("ready")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.status_label, 1)
        self.profile_label = QLabel(self.profiles.status_text())
        self.statusBar().addPermanentWidget(self.profile_label)
        self.profiles.changed.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self._status: dict[QWidget, str] = {self.live: "ready", self.file: "ready"}
        self.live.status_changed.connect(lambda text: self._set_status(self.live, text))
        self.file.status_changed.connect(lambda text: self._set_status(self.file, text))
        # Refresh re-initialises PortAudio, which closes every open stream: stop playback cleanly first
        self.live.before_rescan = lambda: self.file.stop_playback()
        self.file.analysis_done.connect(lambda _a: self._update_actions())
        self.file.analysis_done.connect(self._opened)
        self.file.cleared.connect(self._update_actions)
        self.file.selection_changed.connect(self._update_actions)
        self.file.export_signals.done.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.file.export_signals.failed.connect(lambda text: messages.show_error(self, "Export failed", text))
        self._build_menus()
        self._restore()
        self._update_actions()

    def _set_status(self, tab: QWidget, text: str) -> None:
        """Keep ``tab``'s status line; show it when that tab is the one on screen."""
        self._status[tab] = text
        if self.tabs.currentWidget() is tab:
            self.status_label.set_line(text)

    def _tab_changed(self) -> None:
        self.status_label.set_line(self._status.get(self.tabs.currentWidget(), ""))
        self._update_actions()

    # --- menus -------------------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: Any = None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.csv_action = self._action("Export timeline as &CSV…", self.export_csv_dialog, "Ctrl+E")
        self.png_action = self._action("Export view as &PNG…", self.export_png_dialog, "Ctrl+Shift+E")
        # the shift-dragged range's audio (the file's own samples) and its timeline (issue 28, item 15)
        self.selection_action = self._action("Export &selection…", self.export_selection_dialog, "Ctrl+Alt+E")
        # "Ctrl+Q" itself: StandardKey.Quit is empty where the platform theme names none (offscreen, bare X)
        quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        fm.addAction(self.open_action)
        # several files on the command line or dropped (a desktop entry's %F): opened one after another
        self._queue: list[Path] = []
        self.next_action = self._action("Open &next file", self.open_next, "Ctrl+]")
        self.next_action.setEnabled(False)
        fm.addAction(self.next_action)
        self.recent_menu = fm.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        for a in (None, self.csv_action, self.selection_action, self.png_action, None, quit_action):
            fm.addSeparator() if a is None else fm.addAction(a)
        vm = mb.addMenu("&View")
        vm.addAction(self._action("&Live", lambda: self.tabs.setCurrentWidget(self.live), "Ctrl+1"))
        vm.addAction(self._action("&File", lambda: self.tabs.setCurrentWidget(self.file), "Ctrl+2"))
        vm.addSeparator()
        self.fit_action = self._action("Zoom to &fit", lambda: self._file_zoom(None), "Ctrl+0")
        self.zoom_in_action = self._action(
            "Zoom &in", lambda: self._file_zoom(0.5), QKeySequence.StandardKey.ZoomIn
        )
        self.zoom_out_action = self._action(
            "Zoom &out", lambda: self._file_zoom(2.0), QKeySequence.StandardKey.ZoomOut
        )
        # Ctrl+= (the key without Shift) zooms in too, as in most apps (issue 20, item 15)
        self.zoom_in_action.setShortcuts(
            [*QKeySequence.keyBindings(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        for a in (self.fit_action, self.zoom_in_action, self.zoom_out_action, self.file.autoscale_action):
            vm.addAction(a)
        # the emotions every view shows (--labels of the command line): the live label, bars, curves and
        # strip, the file's curves, strip, summary and CSV, the utterance tables; remembered
        vm.addSeparator()
        em = vm.addMenu("&Emotions shown")
        em.setToolTipsVisible(True)
        group = QActionGroup(self)
        self.label_actions: dict[str, QAction] = {}
        for spec, text in LABEL_CHOICES:
            act = self._action(text, lambda _=False, spec=spec: self.set_labels(spec))
            act.setCheckable(True)
            act.setToolTip("In every view: labels, bars, curves, strip, summary, tables and CSV exports")
            group.addAction(act)
            em.addAction(act)
            self.label_actions[spec] = act
        # Listen: the Live tab's Start/Stop and Record.  Their keys are the tab's own (Space its Start/Stop
        # action's, Ctrl+R its Record action's, neither active on the File tab, where Space is Play);
        # the menu only names them after a tab, since a second QAction with the same key would make it
        # ambiguous and Qt would then fire neither.
        lm = mb.addMenu("&Listen")
        self.start_stop_action = self._action("Start listening\tSpace", self._menu_start_stop)
        self.record_menu_action = self._action("Record to a file\tCtrl+R", self._menu_record)
        self.record_menu_action.setCheckable(True)
        self.choose_record_action = self._action("Choose the record file…", self.live.choose_record_file)
        self.refresh_action = self._action("Look for input devices again", self._menu_refresh)
        for a in (
            self.start_stop_action,
            None,
            self.record_menu_action,
            self.choose_record_action,
            None,
            self.live.adapt_action,
            None,
        ):
            lm.addSeparator() if a is None else lm.addAction(a)
        lm.addAction(self.refresh_action)
        lm.aboutToShow.connect(self._sync_listen_menu)
        lm.addSeparator()
        self.profiles.build_menu(lm)
        hm = mb.addMenu("&Help")
        hm.addAction(self._action("&About serlive", self.show_about))
        self.tabs.currentChanged.connect(lambda _i: self._tab_changed())

    def _sync_listen_menu(self) -> None:
        """Before the Listen menu opens: its items say what they would do now, enabled as the tab's are."""
        live = self.live
        running = live.engine is not None and live.engine.running
        self.start_stop_action.setText(("Stop" if running else "Start") + " listening\tSpace")
        self.start_stop_action.setEnabled(live.start_button.isEnabled())
        self.record_menu_action.setChecked(live.record_check.isChecked())
        self.record_menu_action.setEnabled(live.record_check.isEnabled())
        self.choose_record_action.setEnabled(live.record_file_button.isEnabled())
        self.refresh_action.setEnabled(live.refresh_button.isEnabled())

    def _menu_start_stop(self) -> None:
        """Listen ▸ Start/Stop: shows the Live tab, where the plots are."""
        self.tabs.setCurrentWidget(self.live)
        self.live.toggle()

    def _menu_record(self) -> None:
        """Listen ▸ Record: ticks the tab's Record box (which asks for a file the first time)."""
        if self.live.record_check.isEnabled():
            self.live.record_check.setChecked(not self.live.record_check.isChecked())
        self.record_menu_action.setChecked(self.live.record_check.isChecked())

    def _menu_refresh(self) -> None:
        self.live.refresh_devices(rescan=True)

    def _file_zoom(self, factor: float | None) -> None:
        """View ▸ Zoom: the file viewer's time axis (shown first); ``None`` fits the whole file."""
        self.tabs.setCurrentWidget(self.file)
        if factor is None:
            self.file.zoom_to_fit()
        else:
            self.file.zoom(factor)

    def _update_actions(self) -> None:
        has = self.file.loaded is not None
        self.csv_action.setEnabled(has)
        self.selection_action.setEnabled(has and self.file.selection is not None)
        for a in (self.fit_action, self.zoom_in_action, self.zoom_out_action):
            a.setEnabled(has)
        self.png_action.setEnabled(True)

    # --- files -------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """File ▸ Open Recent's files, newest first (QSettings "recent_files", at most MAX_RECENT)."""
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):  # an INI file gives a one-item list back as a plain string
            value = [value] if value else []
        return [str(v) for v in (value or []) if v][:MAX_RECENT]

    def _set_recent(self, files: list[str]) -> None:
        self.settings.setValue("recent_files", files[:MAX_RECENT])
        self._fill_recent_menu()

    def _add_recent(self, path: Path) -> None:
        p = str(path.resolve())
        self._set_recent([p, *(f for f in self.recent_files() if f != p)])

    def _fill_recent_menu(self) -> None:
        """Rebuild Open Recent: one item per file ("1  take.wav  —  /its/folder"), then Clear."""
        menu = self.recent_menu
        menu.clear()
        files = self.recent_files()
        for i, f in enumerate(files, 1):
            p = Path(f)
            act = menu.addAction(f"&{i}  {p.name}  —  {p.parent}")
            act.setToolTip(f)
            act.triggered.connect(lambda _=False, f=f: self.open_recent(f))
        if not files:
            menu.addAction("No recent files").setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("&Clear the list")
        clear.setEnabled(bool(files))
        clear.triggered.connect(lambda: self._set_recent([]))

    def open_recent(self, path: str) -> None:
        """Open a recent file; one that has gone is taken off the list, and a message box says so."""
        if not Path(path).is_file():
            self._set_recent([f for f in self.recent_files() if f != path])
            messages.show_error(
                self,
                "File not found",
                f"{path} no longer exists (moved, renamed or deleted); it was removed from Open Recent.",
            )
            return
        self.open_file(path)

    def _opened(self, _analysis: object) -> None:
        """The file view shows a file: it goes to the top of Open Recent (and the queue is named)."""
        if self.file.loaded is not None:
            self._add_recent(self.file.loaded.path)
            if self._queue:
                more = plural(len(self._queue), "more file")
                line = self._status.get(self.file, "")
                self._set_status(self.file, f"{line}  |  {more}: File ▸ Open next file (Ctrl+])")

    def open_files(self, paths: Sequence[str | Path]) -> None:
        """Open the first of ``paths``; the others wait for File ▸ Open next file (Ctrl+]).

        ``serlive a.wav b.wav`` (what a desktop entry's ``%F`` gives) opened only the first and said
        nothing of the others (issue 20, item 10).
        """
        self._queue = [Path(p) for p in paths[1:]]
        self._sync_next()
        if paths:
            self.open_file(paths[0])

    def open_next(self) -> None:
        """File ▸ Open next file: the next of the files given together."""
        if self._queue:
            p = self._queue.pop(0)
            self._sync_next()
            self.open_file(p)

    def _sync_next(self) -> None:
        q = self._queue
        self.next_action.setEnabled(bool(q))
        self.next_action.setText(f"Open &next file: {q[0].name} ({len(q)} left)" if q else "Open &next file")

    def open_file(self, path: str | Path) -> None:
        """Show the File tab and analyse ``path``; a path that is not a file gets a message box."""
        p = Path(path)
        if not p.is_file():  # the File tab says so (header, status, box): not the file before it
            self.tabs.setCurrentWidget(self.file)
            self.file.show_failure(p, f"{p}: no such file")
            return
        self.settings.setValue("last_dir", str(p.resolve().parent))
        # Open Recent gets the file once it has opened (analysis_done): a corrupt or non-audio file
        # that gave an error box used to be added and push good ones out (issue 20, item 9)
        self.tabs.setCurrentWidget(self.file)
        self.file.open_file(p)

    def open_dialog(self) -> None:
        """File ▸ Open."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open audio file", str(self.settings.value("last_dir", "")), AUDIO_FILTER
        )
        if path:
            self.open_file(path)

    def export_csv_dialog(self) -> None:
        """File ▸ Export timeline as CSV."""
        if self.file.loaded is None:
            messages.show_error(self, "Nothing to export", "Open and analyse a file first.")
            return
        default = str(self.file.loaded.path.with_suffix(".csv"))  # beside the audio file, its name
        path, _ = QFileDialog.getSaveFileName(self, "Export timeline", default, "CSV (*.csv)")
        if path:
            try:
                self.file.export_csv(path)
            except OSError as exc:
                messages.show_error(self, "Export failed", f"{path}: {exc.strerror or exc}")

    def export_selection_dialog(self) -> None:
        """File ▸ Export selection: its audio (FLAC or WAV, the file's own samples) and its timeline CSV."""
        d, sel = self.file.loaded, self.file.selection
        if d is None or sel is None:
            messages.show_error(
                self, "Nothing to export", "Shift-drag on the file's plots to select a range."
            )
            return
        flac = d.path.suffix.lower() == ".flac"  # FLAC where the file is (its samples fit), else WAV
        default = str(
            d.path.with_name(f"{d.path.stem}-{sel[0]:.1f}-{sel[1]:.1f}s{'.flac' if flac else '.wav'}")
        )
        filters = "FLAC (*.flac);;WAV (*.wav)" if flac else "WAV (*.wav);;FLAC (*.flac)"
        path, _ = QFileDialog.getSaveFileName(self, "Export selection", default, filters)
        if path:
            self.file.export_selection(path)

    def png_default(self) -> str:
        """Where Export view as PNG proposes to save: the audio file's name in its folder (as CSV does).

        It proposed "serlive.png" in the working directory, which for a desktop launcher is the home
        folder and for every export the same name.  The Live tab: "serlive-live.png" in the last folder.
        """
        if self.tabs.currentWidget() is self.file and self.file.loaded is not None:
            return str(self.file.loaded.path.with_suffix(".png"))
        return str(Path(str(self.settings.value("last_dir", "")) or Path.home()) / "serlive-live.png")

    def export_png_dialog(self) -> None:
        """File ▸ Export view as PNG (the tab on screen)."""
        path, _ = QFileDialog.getSaveFileName(self, "Export view", self.png_default(), "PNG image (*.png)")
        if not path:
            return
        tab = self.tabs.currentWidget()
        image = self.file.grab_view() if tab is self.file else tab.grab()
        if not image.save(path, "PNG"):
            messages.show_error(self, "Export failed", f"{path}: could not write the image")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drops of local files."""
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the dropped files (the first now, the others with File ▸ Open next file)."""
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_files(files)

    # --- about -------------------------------------------------------------------------
    def about_text(self) -> str:
        """Rich text of the About box: version, model metadata, training corpora and licences."""
        meta = self.model.meta
        extra = dict(meta.extra)
        training = extra.get("training") or {}
        corpora = training.get("corpora") if isinstance(training, dict) else None
        date = model_date(meta)
        trained = f"trained {date}" if date else "training date not recorded"
        lines = [
            f"<h3>serlive {__version__}</h3>",
            "<p>Real-time speech emotion recognition: live microphone and file viewer.</p>",
            f"<p><b>Model file:</b> {html.escape(str(self.model.path))} ({html.escape(trained)})<br>",
            f"<b>Model labels:</b> {html.escape(', '.join(meta.labels))}<br>",
            f"{self.profiles.about_html()}<br>",
            f"<b>Architecture:</b> {html.escape(str(extra.get('architecture', 'unknown')))}; "
            f"window {meta.windows.window_s:g} s, hop {meta.windows.hop_s:g} s, "
            f"{meta.features.n_mels} log-mel bands at {meta.features.sample_rate} Hz<br>",
            f"<b>Training corpora:</b> {html.escape(', '.join(map(str, corpora)) if corpora else 'unknown')}",
        ]
        clips = training.get("clips") if isinstance(training, dict) else None
        if isinstance(clips, dict) and clips:
            text = ", ".join(f"{k} {v}" for k, v in clips.items())
            lines.append(f"<br><b>Clips:</b> {html.escape(text)}")
        metrics = extra.get("metrics") or (training.get("metrics") if isinstance(training, dict) else None)
        if metrics:
            text = json.dumps(metrics, indent=None)[:600]
            lines.append(f"<br><b>Metrics:</b> {html.escape(text)}")
        else:
            card = html.escape(str(shipped_model_path("README.md")))
            lines.append(f"<br><b>Metrics:</b> not in the model file; see the model card {card}")
        lines.append("</p>")
        # every corpus of the model in use, from its metadata (the box listed RAVDESS and TESS only,
        # under a licence line naming seven: issue 20, item 12)
        names = [str(c) for c in corpora] if corpora else []
        licences = [CORPUS_LICENCES.get(c, f"{c} (licence not recorded)") for c in names]
        licence = str(extra.get("licence") or "")
        known = [CORPUS_LICENCES[c] for c in names if c in CORPUS_LICENCES]
        if known and all(x in licence for x in known):
            # the model's line is written from the same table: list the corpora once (issue 28, item 9)
            licence = f"{licence.rsplit(': ', 1)[-1]}, by the licences of its training corpora (below)"
        if licence:
            lines.append(f"<p><b>Model licence:</b> {html.escape(licence)}</p>")
        lines.append("<p><b>Corpora licences (the model is for non-commercial use only):</b><br>")
        lines.append("<br>".join(html.escape(x) for x in licences) or "not recorded in the model file")
        lines.append("</p><p>Code: MIT licence.</p>")
        return "".join(lines)

    def show_about(self) -> None:
        """Help ▸ About."""
        QMessageBox.about(self, "About serlive", self.about_text())

    # --- settings ----------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        geom = s.value("geometry")
        if isinstance(geom, QByteArray) and not geom.isEmpty():
            self.restoreGeometry(geom)
        else:
            self.resize(1200, 760)
        try:
            self.live.hop_spin.setValue(float(s.value("hop_s", 0.5)))
            self.live.smooth_spin.setValue(float(s.value("smoothing", 0.5)))
            self.live.adapt_action.setChecked(str(s.value("adapt", "true")).lower() == "true")
            self.file.autoscale_action.setChecked(str(s.value("wave_autoscale", "true")).lower() == "true")
        except (TypeError, ValueError):
            pass
        dev = s.value("device_name")
        if dev:
            self.live.select_device(str(dev))
        if s.value("record_path"):  # the record folder and name persist (issue 28, item 6)
            self.live.remember_record_file(str(s.value("record_path")))
        self.set_labels(str(s.value("labels", "all")))

    def set_labels(self, spec: str) -> None:
        """Show every view over a label set (``all``, ``basic``, a comma list) and remember it.

        The Live and File tabs (label, bars, curves, strip, summary, timeline CSV) and both
        utterance tables follow at once: a view of the stored probabilities, so neither a run nor
        an analysis starts again.  An unknown or unusable remembered choice (another model's
        labels) falls back to all.
        """
        from serlive.labelsets import LabelSetError, parse_labels

        try:
            labelset = parse_labels(spec, tuple(self.model.labels))
        except LabelSetError:
            spec, labelset = "all", parse_labels(None, tuple(self.model.labels))
        self.labels_spec = spec
        for shown in (self.live, self.file, self.segments, self.live_utterances):
            shown.set_labelset(None if labelset.is_all else labelset)
        if spec in self.label_actions:
            self.label_actions[spec].setChecked(True)
        if self.settings.value("labels", "all") != spec:  # a choice, not the start-up's reading of it
            self.settings.setValue("labels", spec)

    def shown_emotions(self) -> tuple[str, ...]:
        """The labels every view shows now (View ▸ Emotions shown, over the model's or the profile's)."""
        from serlive.labelsets import LabelSetError, parse_labels

        try:
            return parse_labels(self.labels_spec, tuple(self.model.labels)).names
        except LabelSetError:
            return tuple(self.model.labels)

    def use_profile_in_place(self, profile: Any) -> None:
        """A refitted profile (the same labels) for the file viewer's model and the live engine, now."""
        self.model.profile = profile
        loaded = getattr(self.model, "_model", None) if hasattr(self.model, "loaded") else self.model
        if loaded is not None:
            # no lock: use_profile only swaps a reference (the interpreter is not touched), so a worker
            # mid-analysis judges each window by the old or the new profile, of the same labels; waiting
            # for the viewer's lock could hold the GUI thread for a whole batch of a long file
            loaded.use_profile(profile)
        self.live.profile = profile
        engine = self.live.engine
        if engine is not None and engine.running and hasattr(engine.model, "use_profile"):
            engine.model.use_profile(profile)
        self.profile_label.setText(self.profiles.status_text())

    def save_settings(self) -> None:
        """Window geometry, live settings, last device (QSettings organisation "serlive")."""
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("hop_s", self.live.hop_spin.value())
        s.setValue("smoothing", self.live.smooth_spin.value())
        s.setValue("adapt", "true" if self.live.adapt_action.isChecked() else "false")
        s.setValue("wave_autoscale", "true" if self.file.autoscale_action.isChecked() else "false")
        if self.live.record_path:
            s.setValue("record_path", self.live.record_path)
        i = self.live.device_combo.currentIndex()
        if 0 <= i < len(self.live.devices):
            s.setValue("device_name", self.live.devices[i].name)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, stop the engine, the worker and playback."""
        self.save_settings()
        self.live.shutdown()
        self.file.shutdown()
        super().closeEvent(event)
