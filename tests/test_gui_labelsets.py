"""View ▸ Emotions shown: every view follows the chosen label set (pytest-qt, offscreen, the tiny model).

What is checked is the issue's rule, computed here independently of ``LabelSet.apply``: with
``basic`` chosen, each shown vector is ``(neutral + calm, happy, sad, angry)`` of the model's
eight, renormalised; choosing all again shows the eight as they were.  The switch needs no new
run and no new analysis.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from serlive.audio.sources import FileSource
from serlive.labelsets import parse_labels
from serlive.model import EmotionModel
from tests.conftest import SR, spoken, write_audio

BASIC = ("neutral", "happy", "sad", "angry")


def folded(p: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """``p`` (..., 8) as basic's four: calm added to neutral, the others dropped, renormalised."""
    p = np.asarray(p, np.float64)
    col = {lb: p[..., labels.index(lb)] for lb in labels}
    q = np.stack([col["neutral"] + col["calm"], col["happy"], col["sad"], col["angry"]], axis=-1)
    return q / q.sum(axis=-1, keepdims=True)


def curve_columns(curves, labels) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each label's curve data, (x, y); an empty curve gives empty arrays."""
    out = {}
    for lb, c in zip(labels, curves, strict=True):
        x, y = c.getData()
        out[lb] = (np.zeros(0) if x is None else np.asarray(x), np.zeros(0) if y is None else np.asarray(y))
    return out


@pytest.fixture
def tiny(tiny_models) -> EmotionModel:
    return EmotionModel(tiny_models.int8, num_threads=1)


def test_live_label_bars_curves_and_strip_follow_the_set_and_come_back(qtbot, tiny, tiny_models):
    from serlive.gui.live_view import LiveView
    from serlive.gui.plots import strip_image

    labels = tuple(tiny.labels)
    assert "calm" in labels
    view = LiveView(str(tiny_models.int8), labels, list_devices=lambda: [])
    qtbot.addWidget(view)
    view.show()
    assert view.start_source(FileSource(samples=spoken(6.0), realtime=False))
    qtbot.waitUntil(lambda: view.start_button.text() == "Start", timeout=30_000)
    assert view.results_seen >= 4
    last = view.state.last
    assert last is not None and not last.silent
    eight = curve_columns(view.prob_curves, labels)
    eight_bars = view.bars.values.copy()
    np.testing.assert_allclose(eight_bars, last.shown, atol=1e-6)
    speech = np.isfinite(eight["neutral"][1])
    assert speech.sum() >= 3
    p8 = np.stack([eight[lb][1] for lb in labels], axis=1)  # (windows, 8)

    basic = parse_labels("basic", labels)
    view.set_labelset(basic)  # while stopped: no new run
    four = curve_columns(view.prob_curves, labels)
    for lb in labels:
        if lb not in BASIC:
            assert four[lb][1].size == 0 and not view.prob_curves[labels.index(lb)].isVisible()
    np.testing.assert_array_equal(four["neutral"][0], eight["neutral"][0])  # same times
    p4 = np.stack([four[lb][1] for lb in BASIC], axis=1)
    np.testing.assert_allclose(p4[speech], folded(p8[speech], labels), atol=1e-5)
    assert np.isnan(p4[~speech]).all()
    # the current label, confidence and bars
    want = folded(last.shown, labels)
    assert view.bars.labels == BASIC
    np.testing.assert_allclose(view.bars.values, want, atol=1e-5)
    assert view.emotion_label.text() == BASIC[int(np.argmax(want))]
    assert view.confidence_label.text() == "stopped"
    # the strip: one column per window in the colour of the top of the four
    assert view.strip.labels == BASIC
    silent = ~speech
    np.testing.assert_array_equal(view.strip.image, strip_image(np.nan_to_num(p4), silent, BASIC))
    visible = [b.text() for b in view.legend.buttons if b.isVisibleTo(view.legend)]
    assert tuple(visible) == BASIC

    view.set_labelset(None)  # all eight again, as they were
    back = curve_columns(view.prob_curves, labels)
    for lb in labels:
        np.testing.assert_array_equal(back[lb][1], eight[lb][1])
    np.testing.assert_allclose(view.bars.values, eight_bars, atol=1e-7)
    assert view.emotion_label.text() == last.label and view.bars.labels == labels
    assert all(c.isVisible() for c in view.prob_curves)


def test_live_curves_follow_the_set_while_running(qtbot, tiny, tiny_models):
    """Chosen before Start, the set holds for the run: every decision is drawn over the four."""
    from serlive.gui.live_view import LiveView

    labels = tuple(tiny.labels)
    view = LiveView(str(tiny_models.int8), labels, list_devices=lambda: [])
    qtbot.addWidget(view)
    view.set_labelset(parse_labels("basic", labels))
    assert view.start_source(FileSource(samples=spoken(5.0), realtime=False))
    qtbot.waitUntil(lambda: view.start_button.text() == "Start", timeout=30_000)
    assert view.results_seen >= 3
    _, probs, silent = view.state.curves()
    assert probs.shape[1] == 4
    np.testing.assert_allclose(probs[~silent].sum(axis=1), 1.0, atol=1e-5)
    assert view.emotion_label.text() in BASIC
    assert view.bars.labels == BASIC


def _open(qtbot, view, path) -> None:
    with qtbot.waitSignal(view.analysis_done, timeout=60_000):
        view.open_file(path)


def test_file_curves_strip_summary_and_csv_follow_the_set_and_come_back(qtbot, tiny, tmp_path, monkeypatch):
    from serlive.gui import messages
    from serlive.gui.file_view import FileView
    from serlive.gui.plots import strip_image

    monkeypatch.setattr(messages, "show_error", lambda *a: None)
    labels = tuple(tiny.labels)
    view = FileView(tiny)
    qtbot.addWidget(view)
    view.show()
    gap = np.zeros(5 * SR, np.float32)  # windows wholly in it are "no speech": gaps in the curves
    path = write_audio(tmp_path / "talk.wav", np.concatenate([spoken(5.0), gap, spoken(4.0)]))
    _open(qtbot, view, path)
    d = view.loaded
    a = d.analysis
    assert a.speech
    analysed = view._generation
    eight = curve_columns(view.time_curves, labels)
    eight_text = view.prob_text.text()
    speech = np.isfinite(d.probs).all(axis=1)
    assert speech.sum() >= 3 and (~speech).any()

    basic = parse_labels("basic", labels)
    view.set_labelset(basic)
    assert view._generation == analysed and view.loaded is d  # a view: nothing analysed again
    four = curve_columns(view.time_curves, labels)
    p4 = np.stack([four[lb][1] for lb in BASIC], axis=1)
    np.testing.assert_allclose(p4[speech], folded(d.probs[speech], labels), atol=1e-5)
    assert np.isnan(p4[~speech]).all()
    assert all(four[lb][1].size == 0 for lb in labels if lb not in BASIC)
    assert view.strip.labels == BASIC
    np.testing.assert_array_equal(view.strip.image, strip_image(np.nan_to_num(p4), ~speech, BASIC))
    # the whole file's summary: the file's mean over the eight, folded
    want = folded(a.probabilities, labels)
    assert view.summary_label.text() == BASIC[int(np.argmax(want))]
    assert f"confidence {100 * want.max():.0f} %" in view.summary_detail.text()
    np.testing.assert_allclose(view.bars.values, want, atol=1e-5)
    assert view.prob_text.text().count("<tr>") == 4 and "calm" not in view.prob_text.text()
    # the timeline CSV: four columns, each window folded
    out = tmp_path / "basic.csv"
    view.export_csv(out)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["start_s", "end_s", "silent", "label", *BASIC]
    assert len(rows) == len(a.windows) + 1
    for row, w in zip(rows[1:], a.windows, strict=True):
        np.testing.assert_allclose([float(x) for x in row[4:]], folded(w.probabilities, labels), atol=1e-4)
        assert row[3] == ("no speech" if w.silent else BASIC[int(np.argmax(folded(w.probabilities, labels)))])

    view.set_labelset(None)
    back = curve_columns(view.time_curves, labels)
    for lb in labels:
        np.testing.assert_array_equal(back[lb][1], eight[lb][1])
    assert view.prob_text.text() == eight_text and view.summary_label.text() == a.label
    view.export_csv(out)
    assert next(csv.reader(out.open()))[4:] == list(labels)
    view.shutdown()


def test_the_menu_choice_reaches_every_view(qtbot, tiny, tiny_models, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMenu

    from serlive.gui import messages
    from tests.test_gui import _make_window

    monkeypatch.setattr(messages, "show_error", lambda *a: None)
    win = _make_window(qtbot, tiny, tiny_models.int8, tmp_path, monkeypatch)
    assert "&Emotions shown" in [m.title() for m in win.menuBar().findChildren(QMenu)]
    win.label_actions["basic"].trigger()
    for shown in (win.live.state, win.file, win.segments, win.live_utterances):
        assert shown.labelset is not None and shown.labelset.names == BASIC
    assert win.live.bars.labels == BASIC and win.file.bars.labels == BASIC
    win.label_actions["all"].trigger()
    assert win.live.state.labelset is None and win.file.labelset is None
    assert win.file.bars.labels == tuple(tiny.labels)
    win.close()
