"""The file viewer's utterance panel (pytest-qt, offscreen, the tiny model): spans, table, click, CSV."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

import pyqtgraph as pg
from PySide6.QtGui import QColor

from serlive.model import EmotionModel
from tests.conftest import SR, spoken, write_audio


@pytest.fixture
def viewer(qtbot, tiny_models, monkeypatch):
    """A FileView on the tiny model with the panel attached; playback recorded, never opened."""
    from serlive.gui import messages
    from serlive.gui.file_view import FileView
    from serlive.gui.segments_table import SegmentsPanel

    monkeypatch.setattr(messages, "show_error", lambda *a: None)
    view = FileView(EmotionModel(tiny_models.int8, num_threads=1))
    panel = SegmentsPanel(view)
    view.layout().addWidget(panel)
    played: list[float] = []

    def fake_play() -> bool:
        played.append(view._play_pos / SR)
        return True

    monkeypatch.setattr(view, "start_playback", fake_play)
    qtbot.addWidget(view)
    view.show()
    yield view, panel, played
    view.shutdown()


def span_items(view) -> list:
    """The utterance spans on the waveform (not the selection's band, which is a region too)."""
    items = view.wave_plot.getPlotItem().items
    return [i for i in items if isinstance(i, pg.LinearRegionItem) and i not in view.selection_regions]


def two_utterances(tmp_path) -> tuple[str, list[tuple[float, float]]]:
    """A word (0.55 s) at 1 s and 3.2 s of speech at 3.55 s, between silences: their true spans."""
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    y = np.concatenate([z(1.0), spoken(0.55), z(2.0), spoken(1.4, start_s=2.0), z(1.5)])
    return str(write_audio(tmp_path / "two.wav", y)), [(1.0, 1.55), (3.55, 4.95)]


def test_panel_lists_the_utterances_draws_spans_and_plays_a_clicked_one(qtbot, viewer, tmp_path):
    view, panel, played = viewer
    path, spans = two_utterances(tmp_path)
    with qtbot.waitSignal(panel.ready, timeout=60_000):
        view.open_file(path)
    assert len(panel.utterances) == panel.table.rowCount() == 2
    for u, (a, b) in zip(panel.utterances, spans, strict=True):
        assert abs(u.start_s - a) <= 0.15 and abs(u.end_s - b) <= 0.15
    rows = [[panel.table.item(r, c).text() for c in range(4)] for r in range(2)]
    assert rows[0][0] == "0:00.9" or rows[0][0] == "0:01.0"
    assert all(r[2] in view.labels and r[3].endswith("%") for r in rows)
    regions = span_items(view)
    assert len(regions) == 2
    assert regions[1].getRegion() == pytest.approx((panel.utterances[1].start_s, panel.utterances[1].end_s))

    # a click in the table selects the row, puts the cursor at the start and plays the utterance
    panel.table.cellClicked.emit(1, 0)
    assert panel.selected == 1 and panel.table.currentRow() == 1
    assert played == [pytest.approx(panel.utterances[1].start_s, abs=1 / SR)]
    assert view.cursors[0].value() == pytest.approx(panel.utterances[1].start_s, abs=1e-3)
    # a time on the waveform names its utterance (what a click on a span plays)
    assert panel.index_at(1.2) == 0 and panel.index_at(2.5) == -1

    out = tmp_path / "utt.csv"
    panel.export_csv(out)
    table = list(csv.reader(out.open()))
    assert table[0] == ["start", "end", "label", "confidence", *view.labels]
    assert len(table) == 3
    assert float(table[2][0]) == pytest.approx(panel.utterances[1].start_s, abs=1e-3)
    assert sum(float(x) for x in table[1][4:]) == pytest.approx(1.0, abs=1e-3)


def test_the_viewers_utterances_come_from_its_analysis_and_equal_the_standalone_ones(qtbot, viewer, tmp_path):
    """The view's worker segments while it analyses; the result is what segmenting afterwards gave."""
    from serlive.segments import segment_signal, utterances

    view, panel, _ = viewer
    assert view.segment_config is not None  # the panel asked for them
    path, _ = two_utterances(tmp_path)
    with qtbot.waitSignal(panel.ready, timeout=60_000):
        view.open_file(path)
    d = view.loaded
    assert isinstance(d.segments, list) and len(d.segments) == 2
    flat = lambda segs: [t for s in segs for t in (s.start_s, s.end_s)]  # noqa: E731
    assert flat(d.segments) == pytest.approx(flat(segment_signal(d.samples)), abs=1e-9)
    alone = utterances(d.samples, d.analysis, EmotionModel(view.model.path, num_threads=1))
    assert [(u.start_s, u.end_s) for u in panel.utterances] == [(u.start_s, u.end_s) for u in alone]
    for u, v in zip(panel.utterances, alone, strict=True):
        np.testing.assert_allclose(u.probabilities, v.probabilities, atol=1e-6)


def test_panel_clears_for_the_next_file_and_says_when_there_is_no_speech(qtbot, viewer, tmp_path):
    view, panel, _ = viewer
    path, _ = two_utterances(tmp_path)
    with qtbot.waitSignal(panel.ready, timeout=60_000):
        view.open_file(path)
    silent = write_audio(tmp_path / "silent.wav", np.zeros(4 * SR, np.float32))
    with qtbot.waitSignal(panel.ready, timeout=60_000):
        view.open_file(silent)
    assert panel.table.rowCount() == 0 and panel.utterances == []
    assert not span_items(view)
    assert "No utterances" in panel.title.text()
    assert not panel.export_button.isEnabled()


def test_live_panel_lists_the_last_utterances_newest_first(qtbot, tiny_models):
    from serlive.audio.sources import FileSource
    from serlive.gui.segments_table import LiveUtterancesPanel
    from serlive.live.engine import Engine

    class Live:  # what the panel reads of the live view: its current engine
        engine = None

    live = Live()
    panel = LiveUtterancesPanel(live, keep=2)
    qtbot.addWidget(panel)
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    y = np.concatenate([z(0.5), spoken(0.55), z(1.5), spoken(0.55), z(1.5), spoken(1.4, start_s=2.0), z(2.5)])
    live.engine = Engine(EmotionModel(tiny_models.int8, num_threads=1))
    live.engine.start(FileSource(samples=y, realtime=False))
    assert live.engine.wait(60)
    panel.poll()
    assert panel.table.rowCount() == 2  # the last two of three
    newest, older = panel.utterances
    assert newest.start_s == pytest.approx(4.6, abs=0.15) and older.start_s == pytest.approx(2.55, abs=0.15)
    assert panel.table.item(0, 0).text() in ("0:04.5", "0:04.6")
    assert panel.table.item(0, 2).text() == newest.label
    assert panel.state.text() == "Stopped"
    live.engine = None  # a new run starts an empty list
    panel.poll()
    assert panel.table.rowCount() == 0


def test_file_panel_follows_a_label_set(qtbot, viewer, tmp_path):
    from serlive.labelsets import parse_labels

    view, panel, _ = viewer
    path, _ = two_utterances(tmp_path)
    with qtbot.waitSignal(panel.ready, timeout=60_000):
        view.open_file(path)
    full = [u.probabilities.copy() for u in panel.utterances]
    basic = parse_labels("basic", view.labels)
    panel.set_labelset(basic)
    assert all(u.labels == basic.names for u in panel.utterances)
    for u, p in zip(panel.utterances, full, strict=True):
        np.testing.assert_allclose(u.probabilities, basic.apply(p), atol=1e-6)
        assert panel.table.item(panel.utterances.index(u), 2).text() in basic.names
    out = tmp_path / "basic.csv"
    panel.export_csv(out)
    assert next(csv.reader(out.open())) == ["start", "end", "label", "confidence", *basic.names]
    panel.set_labelset(None)
    np.testing.assert_allclose(panel.utterances[0].probabilities, full[0], atol=1e-7)


def test_the_label_set_choice_is_remembered(qtbot, tiny_models, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from serlive.gui import messages
    from tests.test_gui import _make_window

    monkeypatch.setattr(messages, "show_error", lambda *a: None)
    model = EmotionModel(tiny_models.int8, num_threads=1)
    win = _make_window(qtbot, model, tiny_models.int8, tmp_path, monkeypatch)
    assert win.labels_spec == "all" and win.segments.labelset is None
    win.label_actions["basic"].trigger()
    assert win.segments.labelset.names == ("neutral", "happy", "sad", "angry")
    assert win.live_utterances.labelset is win.segments.labelset
    win.close()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("labels") == "basic"
    again = _make_window(qtbot, model, tiny_models.int8, tmp_path, monkeypatch)
    assert again.labels_spec == "basic" and again.label_actions["basic"].isChecked()
    again.close()
    # a remembered choice this model cannot show falls back to all of its labels
    settings.setValue("labels", "neutral,joy")
    settings.sync()
    third = _make_window(qtbot, model, tiny_models.int8, tmp_path, monkeypatch)
    assert third.labels_spec == "all" and third.segments.labelset is None
    third.close()


def test_span_labels_show_only_where_they_fit_and_appear_as_you_zoom_in(qtbot, viewer, tmp_path):
    """Issue 28, item 2: close utterances on a long file no longer pile their labels into a smear."""
    from serlive.gui.colors import emotion_color
    from serlive.gui.segments_table import SPAN_ALPHA

    view, panel, _ = viewer
    view.resize(900, 600)
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    words = [part for i in range(6) for part in (spoken(0.5, start_s=0.4 * i), z(0.6))]
    y = np.concatenate([z(1.0), *words, z(60.0)])  # six words 1.1 s apart, then a minute of quiet
    with qtbot.waitSignal(panel.ready, timeout=120_000):
        view.open_file(str(write_audio(tmp_path / "close.wav", y)))
    n = len(panel.utterances)
    assert n >= 4
    texts = [text for _, text in panel._spans]

    def shown() -> list[int]:
        return [i for i, t in enumerate(texts) if t.isVisible()]

    def no_overlap() -> bool:
        boxes = sorted(
            (t.sceneBoundingRect().left(), t.sceneBoundingRect().right()) for t in texts if t.isVisible()
        )
        return all(a[1] <= b[0] for a, b in itertools.pairwise(boxes))

    # (a TextItem moves to its place at its next paint: wait for the drawn state, not the model's)
    assert len(shown()) < n  # the whole file: 1.1 s is a few pixels
    qtbot.waitUntil(no_overlap, timeout=3000)
    first, last = panel.utterances[0].start_s, panel.utterances[-1].end_s
    view.wave_plot.setXRange(first - 0.1, last + 0.1, padding=0)  # zoom in on the words
    qtbot.waitUntil(lambda: shown() == list(range(n)))
    qtbot.waitUntil(no_overlap, timeout=3000)
    for (region, _), u in zip(panel._spans, panel.utterances, strict=True):  # the colours stay
        assert region.brush.color().rgb() == QColor(emotion_color(u.label)).rgb()
        assert region.brush.color().alpha() == SPAN_ALPHA
    view.wave_plot.setXRange(0, len(y) / SR, padding=0)  # and out again: hidden again
    qtbot.waitUntil(lambda: len(shown()) < n)


def test_fitting_labels_keeps_a_label_to_the_room_before_the_next_start() -> None:
    from serlive.gui.segments_table import LABEL_GAP_PX, fitting_labels

    starts, widths = [0.0, 1.0, 1.5, 10.0], [50.0, 50.0, 50.0, 50.0]
    assert fitting_labels(starts, widths, 0, 10, 1000) == [True, False, True, True]  # 100 px a second
    assert fitting_labels(starts, widths, 0, 100, 1000) == [False, False, True, True]  # 8.5 s: 85 px
    room = 50 + LABEL_GAP_PX  # exactly enough room for the second label at 112 px a second
    assert fitting_labels(starts, widths, 0, 1.0, room * 2) == [True, True, True, True]
