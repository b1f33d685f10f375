"""Utterances (:mod:`serlive.segments`): boundaries on generated speech, the pause rule, the cap, labelling.

The boundary tests join espeak-ng sentences, each trimmed to its speech, with silences of known
lengths, so every true boundary is known to the sample.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from serlive.audio.io import load_audio
from serlive.config import SegmentConfig
from serlive.results import Analysis, WindowResult
from serlive.segments import (
    Segment,
    Segmenter,
    centred_start,
    label_segments,
    overlap_weighted,
    segment_signal,
)
from tests.conftest import SR, noise, spoken, tone

TOLERANCE_S = 0.15
SENTENCES = (
    "Kids are talking by the door.",
    "I can't believe you did that again after everything we said.",
    "Please leave the package at the front desk.",
    "Nobody told me the meeting had been moved to Thursday.",
    "Turn the music down right now.",
    "What a wonderful surprise to see you here.",
    "She opened the letter and started to cry.",
    "We won the match in the very last minute.",
    "The results came in this morning.",
)
PAUSES_S = (0.2, 2.0, 0.3, 1.5, 0.5, 1.0, 0.7, 0.25)


def trimmed(y: np.ndarray, floor_db: float = 40.0) -> np.ndarray:
    """``y`` without its leading and trailing 10 ms frames more than ``floor_db`` under the loudest."""
    n = len(y) // 160
    db = 20 * np.log10(np.sqrt(np.mean(y[: n * 160].reshape(n, 160) ** 2, axis=1)) + 1e-9)
    on = np.flatnonzero(db > db.max() - floor_db)
    return y[on[0] * 160 : (on[-1] + 1) * 160]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The sentences, two voices alternating, joined by :data:`PAUSES_S`; 1 s of silence at both ends."""
    from tests.conftest import ESPEAK, espeak_to

    if ESPEAK is None:
        pytest.skip("espeak-ng not installed")
    d = tmp_path_factory.mktemp("sentences")
    parts, spans, t = [np.zeros(SR, np.float32)], [], SR
    for i, text in enumerate(SENTENCES):
        path = espeak_to(d / f"{i}.wav", text, speed=(150, 175)[i % 2], voice=("en", "en-us")[i % 2])
        y = trimmed(load_audio(path, SR))
        spans.append((t / SR, (t + len(y)) / SR))
        gap = round((PAUSES_S[i] if i < len(PAUSES_S) else 1.0) * SR)
        parts += [y, np.zeros(gap, np.float32)]
        t += len(y) + gap
    return np.concatenate(parts), spans


def boundaries_found(segs: list[Segment], spans: list[tuple[float, float]]) -> tuple[int, int]:
    """(true boundaries with a segment boundary of the same kind within the tolerance, all of them)."""
    starts = np.array([s.start_s for s in segs])
    ends = np.array([s.end_s for s in segs])
    found = sum(
        int(len(pool) > 0 and np.min(np.abs(pool - t)) <= TOLERANCE_S)
        for a, b in spans
        for t, pool in ((a, starts), (b, ends))
    )
    return found, 2 * len(spans)


def in_silence(segs: list[Segment], spans: list[tuple[float, float]]) -> list[Segment]:
    """The segments that overlap no sentence."""
    return [s for s in segs if not any(s.start_s < b and s.end_s > a for a, b in spans)]


def test_boundaries_of_sentences_with_pauses_of_02_to_2_s(conversation):
    """A minimum pause under the shortest pause (0.2 s) finds >= 95 % of the boundaries, none in silence."""
    y, spans = conversation
    segs = segment_signal(y, SegmentConfig(min_pause_s=0.15))
    found, total = boundaries_found(segs, spans)
    assert found >= 0.95 * total, (found, total, segs)
    assert not in_silence(segs, spans)
    assert len(segs) == len(SENTENCES)
    # every segment starts before its sentence's end and ends after its start, in order
    for s, (a, b) in zip(segs, spans, strict=True):
        assert abs(s.start_s - a) <= TOLERANCE_S and abs(s.end_s - b) <= TOLERANCE_S


def test_the_default_pause_merges_short_pauses_and_splits_long_ones(conversation):
    """At the default (0.3 s) the 0.2 and 0.25 s pauses are inside utterances, the >= 0.5 s ones end them."""
    y, spans = conversation
    cfg = SegmentConfig()
    assert cfg.min_pause_s == 0.3
    segs = segment_signal(y, cfg)
    assert not in_silence(segs, spans)
    ends = np.array([s.end_s for s in segs])
    starts = np.array([s.start_s for s in segs])
    for i, pause in enumerate(PAUSES_S):
        end_found = np.min(np.abs(ends - spans[i][1])) <= TOLERANCE_S
        start_found = np.min(np.abs(starts - spans[i + 1][0])) <= TOLERANCE_S
        if pause >= 0.5:
            assert end_found and start_found, (pause, segs)
        elif pause <= 0.25:
            assert not end_found and not start_found, (pause, segs)


def test_streaming_in_any_blocks_gives_the_segments_of_the_whole_signal(conversation):
    """The live view's segmenter, fed blocks of any size, cuts exactly where the file path cuts."""
    y, _ = conversation
    whole = segment_signal(y)
    seg = Segmenter()
    rng = np.random.default_rng(1)
    got: list[Segment] = []
    pos = 0
    while pos < len(y):
        n = int(rng.integers(1, 9000))
        got += seg.feed(y[pos : pos + n])
        pos += n
    got += seg.finish()
    assert len(got) == len(whole) > 3
    for a, b in zip(got, whole, strict=True):
        assert a.start_s == pytest.approx(b.start_s, abs=1e-9) and a.end_s == pytest.approx(b.end_s, abs=1e-9)


def test_an_utterance_is_closed_as_soon_as_its_pause_is_long_enough(conversation):
    """Live: a segment comes out once min_pause of silence follows it, not at the end of the stream."""
    y, spans = conversation
    seg = Segmenter(SegmentConfig(min_pause_s=0.3))
    after_first = round((spans[1][1] + 1.0) * SR)  # past the 2 s pause after sentence 2
    closed = seg.feed(y[:after_first])
    assert closed, "the 2 s pause should have closed the first utterance"
    assert closed[-1].end_s == pytest.approx(spans[1][1], abs=TOLERANCE_S)
    assert seg.open_since_s is None  # in a pause now


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(6 * SR, np.float32),
        noise(6.0, amp=0.05, colour="pink"),
        tone(300.0, 6.0, amp=0.3),
        (1e-4 * np.random.default_rng(0).standard_normal(6 * SR)).astype(np.float32),
    ],
    ids=["digital-silence", "pink-noise", "tone", "quiet-hiss"],
)
def test_no_segment_without_speech(signal):
    assert segment_signal(signal) == []


def test_short_and_empty_signals():
    assert segment_signal(np.zeros(0, np.float32)) == []
    assert segment_signal(np.zeros(100, np.float32)) == []
    with pytest.raises(ValueError, match="16000 Hz"):
        segment_signal(np.zeros(SR, np.float32), sample_rate=8000)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ValueError, match="minimum pause"):
        SegmentConfig(min_pause_s=0)
    with pytest.raises(ValueError, match="longest segment"):
        SegmentConfig(max_segment_s=0.5)


def test_long_speech_is_cut_at_its_quietest_point():
    """20 s of speech over a -40 dBFS hiss whose one silent moment is 0.2 s at 8.0 s: a 10 s cap cuts there.

    The hiss keeps the clip's own pauses (it is the example clip repeated) louder than the dip; none
    of them is a pause long enough (5 s) to end the utterance.
    """
    y = spoken(20.0, amp=0.3) + noise(20.0, amp=0.01, colour="pink", seed=3)
    y[round(8.0 * SR) : round(8.2 * SR)] = 0.0
    cfg = SegmentConfig(min_pause_s=5.0, max_segment_s=10.0)
    segs = segment_signal(y, cfg)
    assert len(segs) >= 2
    assert all(s.duration_s <= cfg.max_segment_s + 1e-6 for s in segs)
    assert 7.95 <= segs[0].end_s <= 8.25, segs
    for a, b in itertools.pairwise(segs):  # the pieces of one stretch abut
        assert b.start_s == pytest.approx(a.end_s)


def test_every_piece_of_a_capped_stretch_is_at_least_half_the_cap():
    y = spoken(40.0, amp=0.3)
    cfg = SegmentConfig(min_pause_s=5.0, max_segment_s=8.0)
    segs = segment_signal(y, cfg)
    assert len(segs) >= 5
    assert all(4.0 - 0.1 <= s.duration_s <= 8.0 + 1e-6 for s in segs[:-1]), segs


# --- labelling -------------------------------------------------------------------------
LABELS3 = ("a", "b", "c")


def win(start: float, end: float, p: list[float], silent: bool = False) -> WindowResult:
    return WindowResult(start, end, np.array(p, np.float32), silent)


def test_overlap_weighting_on_known_windows():
    windows = [
        win(0.0, 3.0, [1.0, 0.0, 0.0]),
        win(2.0, 5.0, [0.0, 1.0, 0.0]),
        win(4.0, 7.0, [0.0, 0.0, 1.0], silent=True),  # overlaps, but silent: no vote
        win(6.0, 9.0, [0.0, 0.0, 1.0]),  # does not overlap
    ]
    p = overlap_weighted(Segment(2.5, 4.5), windows)
    # overlaps 0.5 s and 2.0 s
    np.testing.assert_allclose(p, [0.5 / 2.5, 2.0 / 2.5, 0.0], atol=1e-6)


def test_overlap_weighting_falls_back_to_silent_windows_and_to_none():
    windows = [win(0.0, 3.0, [0.2, 0.8, 0.0], silent=True), win(1.0, 4.0, [0.6, 0.4, 0.0], silent=True)]
    expected = [(0.2 + 2 * 0.6) / 3, (0.8 + 2 * 0.4) / 3, 0.0]  # overlaps 1 s and 2 s
    np.testing.assert_allclose(overlap_weighted(Segment(2.0, 4.0), windows), expected, atol=1e-6)
    assert overlap_weighted(Segment(10.0, 11.0), windows) is None


def test_short_segments_get_a_centred_window_long_ones_the_weighted_mean():
    windows = [win(0.0, 3.0, [1.0, 0.0, 0.0]), win(3.0, 6.0, [0.0, 1.0, 0.0])]
    analysis = Analysis(duration_s=6.0, labels=LABELS3, windows=windows)
    asked: list[list[Segment]] = []

    def centred(segs: list[Segment]) -> np.ndarray:
        asked.append(segs)
        return np.tile(np.array([0.0, 0.0, 1.0], np.float32), (len(segs), 1))

    short, long = Segment(2.5, 3.5), Segment(1.0, 5.5)
    utts = label_segments([short, long], analysis, 3.0, centred)
    assert asked == [[short]]
    assert utts[0].label == "c" and utts[0].confidence == pytest.approx(1.0)
    np.testing.assert_allclose(utts[1].probabilities, [2.0 / 4.5, 2.5 / 4.5, 0.0], atol=1e-6)
    assert utts[1].label == "b"
    d = utts[1].to_dict()
    assert set(d) == {"start", "end", "label", "confidence", "probabilities"}
    assert list(d["probabilities"]) == list(LABELS3)
    # without a centred window function the short one is weighted too (half each)
    (u,) = label_segments([short], analysis, 3.0)
    np.testing.assert_allclose(u.probabilities, [0.5, 0.5, 0.0], atol=1e-6)


def test_centred_window_stays_inside_the_signal():
    n, w = 10 * SR, 3 * SR
    assert centred_start(Segment(4.0, 5.0), w, n, SR) == round(3.0 * SR)
    assert centred_start(Segment(0.1, 0.5), w, n, SR) == 0
    assert centred_start(Segment(9.5, 9.9), w, n, SR) == n - w
    assert centred_start(Segment(0.1, 0.5), w, 2 * SR, SR) == 0  # a signal shorter than a window
    # on the live hop's grid: 4.2-5.0 s is centred at 4.6 s, start 3.1 s, rounded to 3.0 s
    assert centred_start(Segment(4.2, 5.0), w, n, SR, grid=SR // 2) == 3 * SR
    assert centred_start(Segment(9.5, 9.9), w, None, SR, grid=SR // 2) == 8 * SR  # a stream: no end


def test_model_centred_labels_a_short_utterance_from_the_window_around_it(tiny_models, tmp_path):
    """The file path end to end on the tiny model: a short word between silences gets one centred window."""
    from serlive.files.analysis import analyse_signal
    from serlive.model import EmotionModel
    from serlive.segments import model_centred, utterances
    from serlive.windows import take_window

    model = EmotionModel(tiny_models.int8)
    # the example clip's first word (0.55 s), between 3 s and 4 s of silence
    y = np.concatenate([np.zeros(3 * SR, np.float32), spoken(0.55), np.zeros(4 * SR, np.float32)])
    a = analyse_signal(y, model)
    (u,) = utterances(y, a, model)
    assert 2.9 <= u.start_s <= 3.1 and 3.45 <= u.end_s <= 3.7, u
    start = centred_start(Segment(u.start_s, u.end_s), 3 * SR, len(y), SR, grid=SR // 2)  # the live hop
    assert start % (SR // 2) == 0
    expected = model.predict(model.extractor(take_window(y, start, 3 * SR))[None])[0]
    np.testing.assert_allclose(u.probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(model_centred(model, y)([Segment(u.start_s, u.end_s)])[0], expected, atol=1e-6)


class CountingDetector:
    """A detector that counts the chunks it encodes (what taking file analysis' windows saves)."""

    def __init__(self) -> None:
        from serlive.vad import default_detector

        self.inner = default_detector()
        self.weights = self.inner.weights
        self.encoded = 0

    def encode(self, chunks: np.ndarray) -> np.ndarray:
        self.encoded += len(chunks)
        return self.inner.encode(chunks)

    def decode(self, gates: np.ndarray) -> np.ndarray:
        return self.inner.decode(gates)


def flat(segs: list) -> list[float]:
    """Every segment's start and end in order, so two segmentations compare as one list."""
    return [t for s in segs for t in (s.start_s, s.end_s)]


def assert_standalone_segments_reusing_the_analysis(got: list, y: np.ndarray, det: CountingDetector) -> None:
    """``got`` (segments fed by an analysis) are the standalone rule's, and the VAD ran on under a tenth
    of the chunks: the analysis's probabilities were used (one check for the serial and parallel feeds)."""
    whole = segment_signal(y)
    assert len(got) == len(whole) > 3
    assert flat(got) == pytest.approx(flat(whole), abs=1e-9)
    n_chunks = (len(y) - 512) // 500 + 1
    assert det.encoded < 0.1 * n_chunks, (det.encoded, n_chunks)


@pytest.mark.parametrize("model_name", ["int8", "whisper_hop"])
def test_segmenting_during_file_analysis_gives_the_same_segments_and_reuses_its_windows(
    conversation, tiny_models, model_name
):
    """Fed by analyse_signal (its window rule's chunk probabilities), the segments are the same."""
    from serlive.config import WindowConfig
    from serlive.files.analysis import analyse_signal
    from serlive.model import EmotionModel
    from serlive.segments import complete

    y, _ = conversation
    model = EmotionModel(tiny_models.int8)
    windows = WindowConfig(hop_s=2.0) if model_name == "whisper_hop" else None  # the encoder model's file hop
    det = CountingDetector()
    seg = Segmenter(detector=det)  # type: ignore[arg-type]
    a = analyse_signal(y, model, windows=windows, segmenter=seg)
    got = complete(seg, y)
    assert_standalone_segments_reusing_the_analysis(got, y, det)
    # the analysis itself is what it is without a segmenter
    plain = analyse_signal(y, model, windows=windows)
    assert [w.silent for w in plain.windows] == [w.silent for w in a.windows]
    np.testing.assert_array_equal(plain.probabilities, a.probabilities)


def test_the_parallel_analysis_feeds_the_segmenter_the_serial_calls(conversation, tiny_models):
    """Fed from batches finished in any order on three workers, the segmenter gives the same segments.

    The viewer analyses on every core; its segmenter is fed in batch order from the caller's
    thread, so it must end where the standalone rule and the serial feed end.
    """
    from serlive.files.analysis import analyse_signal
    from serlive.files.parallel import analyse_signal_parallel
    from serlive.model import EmotionModel
    from serlive.segments import complete

    y, _ = conversation
    model = EmotionModel(tiny_models.int8)
    det = CountingDetector()
    seg = Segmenter(detector=det)  # type: ignore[arg-type]
    fractions: list[float] = []
    a = analyse_signal_parallel(
        y,
        model,
        3,
        batch=4,
        segment_windows=12,
        segmenter=seg,
        progress=lambda f: fractions.append(f) and False,
    )
    got = complete(seg, y)
    assert_standalone_segments_reusing_the_analysis(got, y, det)
    assert fractions[-1] == 1.0
    serial = Segmenter()
    plain = analyse_signal(y, model, batch=4, segment_windows=12, segmenter=serial)
    assert flat(complete(serial, y)) == flat(got)  # the very same calls: the very same numbers
    np.testing.assert_array_equal(plain.probabilities, a.probabilities)


# --- live --------------------------------------------------------------------------------
def test_live_engine_gives_the_file_paths_utterances(conversation, tiny_models):
    """Replayed through the live engine, a stream gets the file path's utterances and labels.

    Same samples, same 0.5 s windows (the tiny model's file hop is the live one), the same rule:
    equal boundaries, and probabilities equal to the file path's (overlap means and centred windows).
    """
    from serlive.audio.sources import FileSource
    from serlive.files.analysis import analyse_signal
    from serlive.live.engine import Engine
    from serlive.model import EmotionModel
    from serlive.segments import utterances

    y, _ = conversation
    y = np.concatenate([y, np.zeros(2 * SR, np.float32)])  # a centred window for the last one too
    model = EmotionModel(tiny_models.int8)
    expected = utterances(y, analyse_signal(y, model), model)
    engine = Engine(EmotionModel(tiny_models.int8))
    engine.start(FileSource(samples=y, realtime=False))
    assert engine.wait(60)
    got = []
    while not engine.utterances.empty():
        got.append(engine.utterances.get_nowait())
    assert len(got) == len(expected) > 3
    assert any(u.duration_s < 3.0 for u in got)  # the centred-window case is exercised
    for g, e in zip(got, expected, strict=True):
        assert (g.start_s, g.end_s) == pytest.approx((e.start_s, e.end_s), abs=1e-6)
        assert g.labels == e.labels
        np.testing.assert_allclose(g.probabilities, e.probabilities, atol=1e-5)
    assert engine.open_utterance_s is None


def test_live_utterances_wait_for_their_windows():
    """An utterance is labelled only once the last window over it has been analysed, not at its pause."""
    from serlive.segments import LiveUtterances

    labels = ("a", "b")
    live = LiveUtterances(labels, window_s=3.0, hop_s=0.5)

    class R:
        def __init__(self, start: float, p: list[float]) -> None:
            self.start_s, self.end_s, self.silent, self.labels = start, start + 3.0, False, labels
            self.probabilities = np.array(p, np.float32)

    live._pending.append(Segment(1.0, 5.2))  # as the segmenter would after a pause
    ready = []
    for k in range(0, 11):  # windows at 0, 0.5, ..., 5.0 s
        ready += live.add(R(0.5 * k, [1.0, 0.0] if k < 6 else [0.0, 1.0]))
        if k < 10:
            assert ready == [], k  # the window at 5.0 s is the last to start before 5.2 s
    (u,) = ready
    # overlaps: windows 0..5 (a) and 6..10 (b), each clipped to [1.0, 5.2]
    ov = [min(0.5 * k + 3, 5.2) - max(0.5 * k, 1.0) for k in range(11)]
    share_b = sum(ov[6:]) / sum(ov)
    np.testing.assert_allclose(u.probabilities, [1 - share_b, share_b], atol=1e-6)


def test_an_utterance_ended_by_the_stream_before_any_window_is_uniform():
    """Stopped within the first window: the utterance is listed, with no emotion preferred."""
    from serlive.segments import LiveUtterances

    live = LiveUtterances(("a", "b", "c"), window_s=3.0, hop_s=0.5)
    live.feed(spoken(0.55))  # the example clip's first word
    (u,) = live.finish()
    assert u.labels == ("a", "b", "c") and u.label == "a"
    np.testing.assert_allclose(u.probabilities, [1 / 3] * 3)
