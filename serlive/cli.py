"""``serlive`` command line: a thin adapter over :mod:`serlive.analysis` and the trainer.

Subcommands: ``predict``, ``train``, ``evaluate``, ``listen``, ``devices`` and
``gui``; no arguments, or a file first (a missing one too), open the desktop app.  ``--version`` names
the model in use; ``--install-desktop-entry``/``--uninstall-desktop-entry`` add or remove the menu
entry.  Heavy imports (TensorFlow, librosa) happen only inside the training subcommands, never on the
predict path.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import queue
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from serlive import __version__

# one BLAS thread: OpenBLAS threads cause 8 ms spikes when the other core is busy
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal or forced."""

    def __init__(self, total: int, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() and total > 1) if enabled is None else enabled
        self.t0 = time.monotonic()
        self.done = 0

    def step(self, label: str = "") -> None:
        """Count one item and redraw."""
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(1, self.total))
        rate = self.done / max(1e-9, time.monotonic() - self.t0)
        name = label[-40:]
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {rate:5.1f}/s {name:<40}"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def iter_inputs(paths: Sequence[str]) -> Iterator[tuple[str, Path]]:
    """``(as_given, path)`` for each file; folders are searched recursively for audio files."""
    from serlive.audio.io import AUDIO_EXTENSIONS

    for given in paths:
        p = Path(given)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    yield str(f), f
        else:
            yield given, p


def _round(xs: Any, nd: int = 4) -> list[float]:
    return [round(float(x), nd) for x in xs]


def analysis_record(given: str, a: Any, timeline: bool) -> dict[str, Any]:
    """The JSON object ``predict --format json`` prints for one file."""
    # nothing was speech: no confidence and no distribution (the mean of non-speech windows is
    # not an answer; the GUI shows none either)
    rec: dict[str, Any] = {
        "path": given,
        "label": a.label if a.speech else "no speech",
        "confidence": round(a.confidence, 4) if a.speech else None,
        "probabilities": dict(zip(a.labels, _round(a.probabilities), strict=True)) if a.speech else None,
        "duration_s": round(a.duration_s, 3),
        "speech": a.speech,
        "adapted": a.adapted,
    }
    if timeline:
        rec["timeline"] = [
            {
                "start": round(w.start_s, 3),
                "end": round(w.end_s, 3),
                "silent": w.silent,
                "probabilities": dict(zip(a.labels, _round(w.probabilities), strict=True)),
            }
            for w in a.windows
        ]
    return rec


def _segment_config(args: argparse.Namespace) -> Any:
    """The pause rule from ``--min-pause``/``--max-segment`` (defaults: :class:`SegmentConfig`'s)."""
    from serlive.config import SegmentConfig

    given = {"min_pause_s": args.min_pause, "max_segment_s": args.max_segment}
    return SegmentConfig(**{k: v for k, v in given.items() if v is not None})


def _segment_file(y: Any, segmenter: Any, model: Any) -> tuple[list[Any], dict[Any, Any]]:
    """A file's segments (``segmenter`` was fed by its analysis) and the window centred on each short one.

    The centred windows (the plain model's) are computed now, while the samples are at hand; they
    label short segments unless a session adapts the file's windows (then its windows do, see
    :func:`serlive.segments.utterances`).
    """
    from serlive.segments import complete, model_centred

    segs = complete(segmenter, y)
    short = [s for s in segs if s.duration_s < model.meta.windows.window_s]
    centred = dict(zip(short, model_centred(model, y)(short), strict=True)) if short else {}
    return segs, centred


def _analyse_segmented(paths: list[str], model: Any, seg_cfg: Any, keep_embeddings: bool) -> Any:
    """Each file's (Analysis, (segments, centred windows)), or (the reason it failed, None), in order.

    The segmenter is fed as the analysis goes and takes the window rule's speech
    probabilities from it, so ``--segments`` runs the speech detector once; that
    ties it to the serial loop (``--jobs`` does not apply).
    """
    from serlive.analysis import analyse_signal
    from serlive.audio.io import AudioLoadError, load_audio
    from serlive.segments import Segmenter

    for path in paths:
        try:
            y = load_audio(path, model.meta.features.sample_rate)
        except AudioLoadError as exc:
            yield exc.reason, None
            continue
        segmenter = Segmenter(seg_cfg)
        a = analyse_signal(y, model, keep_embeddings=keep_embeddings, segmenter=segmenter)
        yield a, _segment_file(y, segmenter, model)


def cmd_predict(args: argparse.Namespace) -> int:
    """Analyse files and print one result per file."""
    from serlive.analysis import adapt_to_session
    from serlive.labelsets import LabelSetError, parse_labels
    from serlive.model import EmotionModel, ModelError
    from serlive.parallel import analyse_files, default_jobs

    try:
        model = EmotionModel(args.model)
    except ModelError as exc:
        print(f"serlive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args.labelset = parse_labels(args.labels, model.labels)
        seg_cfg = _segment_config(args) if args.segments else None
        if seg_cfg is not None and model.meta.features.sample_rate != 16000:
            raise ValueError(
                f"--segments: {model.path.name} is not a 16 kHz model (the speech detector's rate)"
            )
    except (LabelSetError, ValueError) as exc:
        print(f"serlive predict: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.segments and args.timeline and args.format == "csv":
        print("serlive predict: --format csv takes --timeline or --segments, not both", file=sys.stderr)
        return EXIT_USAGE
    inputs = list(iter_inputs(args.paths))
    if not inputs:
        print("serlive: no audio files found", file=sys.stderr)
        return EXIT_FAILED
    adaptation = model.adaptation
    if args.session and adaptation is None:
        print(f"serlive: --session: {model.path.name} has no session adaptation", file=sys.stderr)
        return EXIT_USAGE
    out = sys.stdout
    writer = None
    if args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        head = ["path", "start", "end"] if args.timeline or args.segments else ["path"]
        writer.writerow([*head, "label", "confidence", *args.labelset.names, "duration_s", "error"])
    failed = 0
    progress = Progress(len(inputs))
    # (given, Analysis or the reason it failed, (segments, centred windows) with --segments)
    done: list[tuple[str, Any, Any]] = []
    if seg_cfg is not None:  # utterances are cut as each file's analysis goes: one file at a time
        results: Any = _analyse_segmented([p for _, p in inputs], model, seg_cfg, args.session)
    else:
        jobs = args.jobs or default_jobs()
        files = analyse_files([p for _, p in inputs], model, jobs, keep_embeddings=args.session)
        results = ((a, None) for a in files)
    for (given, _), (a, segs) in zip(inputs, results, strict=True):  # in input order, each when done
        failed += isinstance(a, str)
        done.append((given, a, segs))
        if not args.session:  # one file at a time; a session waits for all its files
            _write_prediction(args, model, writer, *done.pop())
        progress.step(given)
    progress.close()
    if args.session and adaptation is not None:
        analyses = [a for _, a, _ in done if not isinstance(a, str)]
        heard = adapt_to_session(analyses, model)
        need = adaptation.min_speech_s
        if heard < need:
            print(
                f"serlive: --session: these files hold {heard:.0f} s of speech and the speaker's statistics "
                f"need {need:.0f} s; the results are not adapted",
                file=sys.stderr,
            )
        for given, a, segs in done:
            _write_prediction(args, model, writer, given, a, segs)
    return EXIT_FAILED if failed else EXIT_OK


def _labelled_segments(
    model: Any, a: Any, found: tuple[list[Any], dict[Any, Any]], labelset: Any
) -> list[Any]:
    """The utterances of one analysed file, over the chosen labels."""
    from serlive.labelsets import view
    from serlive.segments import label_segments

    segs, centred = found
    short = None if a.adapted else (lambda ss: [centred[s] for s in ss])
    utts = label_segments(segs, a, model.meta.windows.window_s, short)
    return [view(u, labelset, "probabilities") for u in utts]


def _write_prediction(
    args: argparse.Namespace, model: Any, writer: Any, given: str, a: Any, segs: Any = None
) -> None:
    """One file's result (or, for a string, the reason it could not be read) in ``args.format``."""
    from serlive.labelsets import view_analysis

    out = sys.stdout
    labelset = args.labelset
    if isinstance(a, str):
        if args.format == "json":
            out.write(json.dumps({"path": given, "error": a}) + "\n")
        elif writer is not None:
            span = 4 if args.timeline or args.segments else 2
            writer.writerow([given, *([""] * (len(labelset.names) + span)), "", a])
        else:
            print(f"serlive: {given}: {a}", file=sys.stderr)
        out.flush()
        return
    utts = _labelled_segments(model, a, segs, labelset) if segs is not None else None
    rec = analysis_record(given, view_analysis(a, labelset), args.timeline)
    if utts is not None:
        rec["segments"] = [u.to_dict() for u in utts]
    if args.format == "json":
        out.write(json.dumps(rec) + "\n")
    elif writer is not None:
        if utts is not None:
            for u in rec["segments"]:
                probs = list(u["probabilities"].values())
                row = [given, u["start"], u["end"], u["label"], u["confidence"], *probs]
                writer.writerow([*row, rec["duration_s"], ""])
        elif args.timeline:
            for w in rec["timeline"]:
                label = "no speech" if w["silent"] else max(w["probabilities"], key=w["probabilities"].get)
                probs = list(w["probabilities"].values())
                confidence = "" if w["silent"] else max(probs)  # a no-speech window has no confidence
                row = [given, w["start"], w["end"], label, confidence, *probs, rec["duration_s"], ""]
                writer.writerow(row)
        else:
            dist = rec["probabilities"]
            probs = [""] * len(model.labels) if dist is None else list(dist.values())
            confidence = "" if rec["confidence"] is None else rec["confidence"]
            writer.writerow([given, rec["label"], confidence, *probs, rec["duration_s"], ""])
    else:
        out.write(format_text(rec))
    out.flush()


def format_text(rec: dict[str, Any]) -> str:
    """Human-readable block for one file."""
    buf = io.StringIO()
    buf.write(f"{rec['path']}  ({rec['duration_s']:.1f} s)\n")
    if not rec["speech"]:
        buf.write("  no speech detected (no window holds speech: silence, or only tones, music, noise)\n")
    else:
        adapted = "  (adapted to the session's speaker)" if rec.get("adapted") else ""
        buf.write(f"  {rec['label']}  {100 * rec['confidence']:.0f}%{adapted}\n")
        for label, p in sorted(rec["probabilities"].items(), key=lambda kv: -kv[1]):
            buf.write(f"    {label:<10} {'█' * round(p * 30):<30} {100 * p:5.1f}%\n")
    for w in rec.get("timeline", []):
        top = "—" if w["silent"] else max(w["probabilities"], key=w["probabilities"].get)
        buf.write(f"    {w['start']:7.2f}-{w['end']:7.2f} s  {top}\n")
    if "segments" in rec:
        from serlive.segments import clock

        segs = rec["segments"]
        buf.write(
            f"  {len(segs)} utterance{'' if len(segs) == 1 else 's'}\n" if segs else "  no utterances\n"
        )
        for u in segs:
            buf.write(
                f"    {clock(u['start'])}-{clock(u['end'])}  {u['label']:<10} {100 * u['confidence']:3.0f}%\n"
            )
    return buf.getvalue()


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    """Train, export and score a model."""
    from serlive.train.corpora import default_data_root
    from serlive.train.fit import TrainConfig, run
    from serlive.train.speakers import speakers_arg

    root = os.pathsep.join(args.data) if args.data else default_data_root()
    if root is None:
        print("serlive train: no data folder; pass --data or set SERLIVE_DATA", file=sys.stderr)
        return EXIT_USAGE
    weights = {}
    for part in filter(None, args.corpus_weight.split(",")):
        name, _, val = part.partition("=")
        weights[name] = float(val)
    cfg = TrainConfig(
        data_root=str(root),
        out_dir=args.out,
        corpora=args.corpora.split(","),
        val_speakers=speakers_arg(args.val),
        test_speakers=speakers_arg(args.test),
        arch=args.arch,
        width=args.width,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        n_aug=args.n_aug,
        trim_db=args.trim_db,
        seed=args.seed,
        corpus_weight=weights,
        mixup=args.mixup,
        ensemble=args.ensemble,
        teacher=args.teacher,
        distill=args.distill,
        workers=args.workers,
    )
    try:
        run(cfg, argv=argv)
    except (FileNotFoundError, ValueError) as exc:
        print(f"serlive train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on labelled corpora."""
    from serlive.model import EmotionModel, ModelError
    from serlive.train.corpora import default_data_root, load_all
    from serlive.train.evaluate import evaluate_utterances
    from serlive.train.speakers import speakers_arg

    root = os.pathsep.join(args.data) if args.data else default_data_root()
    if root is None:
        print("serlive evaluate: no data folder; pass --data or set SERLIVE_DATA", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = EmotionModel(args.model)
        utts = load_all(root, args.corpora.split(",") if args.corpora else None)
    except (ModelError, FileNotFoundError, ValueError) as exc:
        print(f"serlive evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.speakers:
        keep = set(speakers_arg(args.speakers))
        utts = [u for u in utts if u.speaker in keep]
    if not utts:
        print("serlive evaluate: no labelled files selected", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.session and model.adaptation is None:
            raise ValueError(f"--session: {model.path.name} has no session adaptation")
        rep = evaluate_utterances(model, utts, args.out, session=args.session)
    except ValueError as exc:
        print(f"serlive evaluate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    s = rep["summary"]
    print(
        json.dumps(
            {k: s[k] for k in ("files", "accuracy", "macro_f1", "per_gender", "per_corpus", "per_speaker")},
            indent=2,
        )
    )
    print(f"report written to {args.out}")
    return EXIT_OK


def cmd_devices(args: argparse.Namespace) -> int:
    """List input devices: index, name, channels, default rate; the default marked."""
    from serlive.audio.sources import NO_DEVICE_MESSAGE, AudioDeviceError, list_input_devices

    try:
        devices = list_input_devices()
    except AudioDeviceError as exc:
        print(f"serlive devices: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not devices:
        print(f"serlive devices: {NO_DEVICE_MESSAGE}", file=sys.stderr)
        return EXIT_USAGE
    width = max(4, *(len(d.name) for d in devices))
    print(f"  {'index':>5}  {'name':<{width}}  {'channels':>8}  {'default rate':>12}  host API")
    for d in devices:
        mark = "*" if d.is_default else " "
        rate = f"{d.default_rate:>9.0f} Hz"
        print(f"{mark} {d.index:>5}  {d.name:<{width}}  {d.channels:>8}  {rate}  {d.hostapi}")
    print("* = default input")
    return EXIT_OK


def format_result_line(r: Any) -> str:
    """One terminal line for a live window: times, label, confidence, runners-up, latency."""
    head = f"{r.start_s:8.2f}-{r.end_s:8.2f} s  "
    lat = "" if r.latency_s is None else f"  {1000 * r.latency_s:6.1f} ms"
    if r.silent:
        return f"{head}{'no speech':<10}{'':>5}{'':<34}{lat}"
    p = r.shown
    order = sorted(range(len(p)), key=lambda i: -p[i])
    others = ", ".join(f"{r.labels[i]} {100 * p[i]:.0f}%" for i in order[1:3])
    return f"{head}{r.label:<10}{100 * r.confidence:4.0f}%  ({others}){lat}"


def format_utterance_line(u: Any) -> str:
    """One terminal line for a live utterance (``listen --segments``): its span, label, confidence."""
    from serlive.segments import clock

    return f"utterance {clock(u.start_s)}-{clock(u.end_s)}  {u.label:<10}{100 * u.confidence:4.0f}%"


def cmd_listen(args: argparse.Namespace, source: Any = None) -> int:
    """Live emotion probabilities from a microphone, one line per window.

    ``source`` replaces the microphone (tests, demos): any
    :class:`serlive.audio.sources.AudioSource`.
    """
    from serlive.audio.record import RecordError
    from serlive.audio.sources import AudioDeviceError, MicrophoneSource
    from serlive.labelsets import LabelSetError, parse_labels, view
    from serlive.model import EmotionModel, ModelError
    from serlive.stream import Engine, EngineError, Result, StreamEnd

    err = sys.stderr
    try:
        model = EmotionModel(args.model, num_threads=1)
    except ModelError as exc:
        print(f"serlive listen: {exc}", file=err)
        return EXIT_USAGE
    try:
        labelset = parse_labels(getattr(args, "labels", None), model.labels)
    except LabelSetError as exc:
        print(f"serlive listen: {exc}", file=err)
        return EXIT_USAGE
    try:
        # number_takes=False: an existing --record file is refused (exit 2), never overwritten or renamed,
        # so a script finds its recording under exactly the name it gave
        engine = Engine(
            model,
            hop_s=args.hop,
            smoothing=args.smoothing,
            record=args.record,
            number_takes=False,
            adapt=args.adapt,
            utterances=bool(getattr(args, "segments", False)),
            skip_silent=True,  # a no-speech line shows no probabilities: the encoder is not run for it
        )
    except ValueError as exc:
        print(f"serlive listen: {exc}", file=err)
        return EXIT_USAGE
    if args.adapt and model.adaptation is None:
        print(f"serlive listen: --adapt: {model.path.name} has no session adaptation", file=err)
        return EXIT_USAGE
    rate = engine.sample_rate
    try:
        if source is None:
            source = MicrophoneSource(args.device, rate)
        engine.start(source)
    except (AudioDeviceError, RecordError, EngineError) as exc:
        print(f"serlive listen: {exc}", file=err)
        return EXIT_USAGE
    how = f"at {source.sample_rate} Hz" + (f" (resampled to {rate} Hz)" if source.sample_rate != rate else "")
    stop_how = f"for {args.duration:g} s" if args.duration is not None else "until Ctrl-C"
    print(f"serlive listen: listening to {source.name} {how} {stop_how}", file=err, flush=True)

    as_json = args.format == "json"
    out = sys.stdout

    adapted_yet = False

    def emit(item: Result) -> None:
        nonlocal adapted_yet
        if item.adapted and not adapted_yet:
            adapted_yet = True
            print(
                f"serlive listen: adapted to this speaker after {item.speech_heard_s:.0f} s of speech",
                file=err,
                flush=True,
            )
        item = view(item, labelset, "probabilities", "smoothed")
        out.write((json.dumps(item.to_dict()) if as_json else format_result_line(item)) + "\n")
        emit_utterances()
        out.flush()

    def emit_utterances() -> None:
        """With --segments: the utterances the engine has closed and labelled since the last call."""
        while True:
            try:
                u = view(engine.utterances.get_nowait(), labelset, "probabilities")
            except queue.Empty:
                return
            if as_json:
                out.write(json.dumps({"utterance": u.to_dict()}) + "\n")
            else:
                out.write(format_utterance_line(u) + "\n")

    # Ctrl-C and SIGTERM only set a flag that the loop reads every 0.1 s.  Why not let them raise:
    # CPython runs a signal handler between any two bytecodes, also between a lock's acquire and
    # the `with` that releases it, so a KeyboardInterrupt inside queue.get can leave the results
    # queue's lock held, and the drain after stopping then waits on it for ever (seen once in CI).
    signalled: list[int] = []
    previous: dict[int, Any] = {}
    if _in_main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: signalled.append(signum))
    # --duration counts from the first audio, not from opening the device: a sound server can take
    # a second or two to deliver its first block, and `--duration 5 --record x.wav` means 5 s of audio
    deadline: float | None = None
    announced = False
    ended: Any = None
    try:
        while not signalled:
            if not announced and engine.samples_received > 0:
                print("serlive listen: receiving audio", file=err, flush=True)
                announced = True
                if args.duration is not None:
                    deadline = time.monotonic() + args.duration
            wait = 0.1
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                item = engine.results.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(item, StreamEnd):
                ended = item
                break
            emit(item)
    finally:
        for sig, handler in previous.items():  # a second Ctrl-C or SIGTERM while stopping acts as usual
            signal.signal(sig, handler)
        stopped = engine.stop(timeout=3.0)
    if ended is None:  # windows published while stopping
        late, ended = engine.drain()
        for item in late:
            emit(item)
    emit_utterances()  # the one the stream's end closed
    out.flush()
    stats = engine.stats()
    print(f"serlive listen: stopped: {stats.summary()}", file=err if as_json else out, flush=True)
    if engine.record_path is not None:
        n = engine.recorded_samples
        where = engine.record_path
        print(
            f"serlive listen: recorded {n / rate:.2f} s ({n} samples) to {where}",
            file=err if as_json else out,
        )
    if engine.error:
        print(f"serlive listen: {engine.error}", file=err)
        return EXIT_FAILED
    if not stopped:
        print("serlive listen: the audio device did not close within 3 s", file=err)
    return EXIT_OK


def _in_main_thread() -> bool:
    """Signal handlers can only be installed from the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()


def version_text() -> str:
    """``serlive --version``: the app's version, then the model file in use and its training date.

    The model line says which model an installed app runs ($SERLIVE_MODEL or the shipped default), so
    a bug report or a comparison of two installs can name it.
    """
    from serlive.model import default_model_path, describe_model

    return f"serlive {__version__}\nmodel: {describe_model(default_model_path())}"


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked for (it reads the model's metadata)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


def cmd_desktop_entry(install: bool) -> int:
    """Write (or remove) the menu entry and icon in the user's XDG data folders."""
    from serlive import desktop

    try:
        paths = desktop.install() if install else desktop.uninstall()
    except OSError as exc:
        print(f"serlive: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if install:
        print(f"serlive: wrote {paths[0]} and {paths[1]}")
        print(f"serlive: the menu entry runs {' '.join(desktop.launcher_command())}")
    elif paths:
        print(f"serlive: removed {' and '.join(map(str, paths))}")
    else:
        print("serlive: no desktop entry to remove")
    return EXIT_OK


MODEL_HELP = "a .tflite exported by serlive train, or a shipped model: whisper (the default) or cnn"
LABELS_HELP = (
    "show only these emotions: a comma list (e.g. neutral,happy,sad,angry) or a preset: basic "
    "(= neutral,happy,sad,angry) or all (the default). Probabilities are renormalised over the chosen "
    "labels; calm counts as neutral when calm is not chosen"
)


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and options."""
    p = argparse.ArgumentParser(prog="serlive", description="Real-time speech emotion recognition.")
    p.add_argument(
        "--version", action=_VersionAction, nargs=0, help="show the version and the model in use, and exit"
    )
    desk = p.add_mutually_exclusive_group()
    desk.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add serlive to the desktop's menu and to 'Open with' for audio files (this user), and exit",
    )
    desk.add_argument(
        "--uninstall-desktop-entry", action="store_true", help="remove that menu entry and icon, and exit"
    )
    sub = p.add_subparsers(dest="command")

    pr = sub.add_parser("predict", help="emotion of audio files (or folders of them)")
    pr.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    pr.add_argument("--format", choices=("text", "json", "csv"), default="text")
    pr.add_argument("--timeline", action="store_true", help="include every 3 s window")
    pr.add_argument(
        "--segments",
        action="store_true",
        help="one label per utterance: the speech between pauses, with start, end, label, confidence and "
        "probabilities (each the overlap-weighted mean of the voiced windows over it)",
    )
    pr.add_argument(
        "--min-pause",
        type=_seconds,
        metavar="SECONDS",
        help="with --segments: a pause at least this long ends an utterance (default 0.3)",
    )
    pr.add_argument(
        "--max-segment",
        type=_seconds,
        metavar="SECONDS",
        help="with --segments: a longer stretch of speech is cut at its quietest point (default 12)",
    )
    pr.add_argument("--labels", metavar="LIST", help=LABELS_HELP)
    pr.add_argument(
        "--session",
        action="store_true",
        help="the files are one speaker: judge them against that speaker's own voice (session "
        "adaptation; needs 20 s of speech in all)",
    )
    pr.add_argument(
        "--jobs",
        type=_jobs_count,
        metavar="N",
        help="files (and parts of a long file) analysed at once; default: every core this process may use "
        "(fewer if free memory is short: each worker holds its own copy of the model). The output is the "
        "same for any N; 1 uses one core",
    )
    pr.add_argument("--model", help=MODEL_HELP)

    tr = sub.add_parser("train", help="train, export and score a model (needs the [train] extra)")
    tr.add_argument(
        "--data",
        action="append",
        help="folder holding corpus folders; repeat for several (default: $SERLIVE_DATA, "
        "several joined by ':', or ../shared/data)",
    )
    tr.add_argument(
        "--corpora",
        default="ravdess,tess",
        help="comma list of ravdess, tess, turevdb, nemo, ased, esd, emospeech (savee, cremad and emodb "
        "load too, for evaluating on them: the shipped models never trained on them)",
    )
    tr.add_argument("--val", default="ravdess:15-16", help="validation speakers, e.g. ravdess:15-16")
    tr.add_argument("--test", default="ravdess:17-20", help="test speakers (may be empty)")
    tr.add_argument("--arch", choices=("cnn2d", "cnn1d"), default="cnn2d")
    tr.add_argument("--width", type=int, default=16)
    tr.add_argument("--epochs", type=int, default=120, help="cosine schedule length")
    tr.add_argument("--patience", type=int, default=30, help="early stop after this many epochs without gain")
    tr.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    tr.add_argument("--n-aug", type=int, default=6, help="augmented variants per training clip")
    tr.add_argument("--trim-db", type=float, default=40.0, help="silence trimming threshold (0 = off)")
    tr.add_argument("--corpus-weight", default="tess=3", help="e.g. tess=3,turevdb=1")
    tr.add_argument("--mixup", type=float, default=0.2, help="mixup alpha (0 = off)")
    tr.add_argument("--ensemble", type=int, default=1, help="members averaged into one model")
    tr.add_argument("--seed", type=int, default=1234)
    tr.add_argument(
        "--teacher",
        default="",
        help="soft labels to distil from (JSON from python -m serlive.train.teacher); default: labels only",
    )
    tr.add_argument(
        "--distill", type=float, default=0.5, help="weight of the teacher in each target (default 0.5)"
    )
    tr.add_argument("--workers", type=int, default=2)
    tr.add_argument("--out", default="runs/latest", help="output folder")

    ev = sub.add_parser("evaluate", help="score a model on labelled corpora")
    ev.add_argument("--model", help="model to score (default: the shipped model)")
    ev.add_argument("--data", action="append", help="folder holding corpus folders; repeat for several")
    ev.add_argument("--corpora", help="comma list (default: all found)")
    ev.add_argument("--speakers", help="only these speakers, e.g. ravdess:17-20")
    ev.add_argument("--out", default="runs/evaluate", help="report folder")
    ev.add_argument(
        "--session", action="store_true", help="each speaker's files are one session (predict --session)"
    )

    sub.add_parser("devices", help="list audio input devices (the default marked)")

    li = sub.add_parser("listen", help="live emotion from a microphone, one line per 3 s window")
    li.add_argument("--device", help="input device index or (part of its) name (default: the system default)")
    li.add_argument(
        "--hop",
        type=_seconds,
        help="seconds between windows, a multiple of the model's frame hop (0.01 s for the shipped model, "
        "0.02 s for serlive-cnn) (default: 0.5)",
    )
    li.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        help="exponential smoothing: weight of the past in [0, 1) (default 0.5); 0 = off",
    )
    li.add_argument("--format", choices=("text", "json"), default="text", help="json: one object per line")
    li.add_argument(
        "--duration",
        type=_seconds,
        help="stop after this many seconds of audio (from the first block)",
    )
    li.add_argument(
        "--record",
        metavar="FILE",
        help="also write the captured audio to FILE (.wav, float32); an existing FILE is refused",
    )
    li.add_argument(
        "--adapt",
        action="store_true",
        help="adapt to the speaker: once 20 s of speech are heard, judge it against the session's own "
        "voice (session adaptation)",
    )
    li.add_argument(
        "--segments",
        action="store_true",
        help="also one line per utterance (the speech between pauses of 0.3 s or more), labelled as "
        'predict --segments labels it, about 3 s after it ends (JSON: an object with an "utterance" key)',
    )
    li.add_argument("--labels", metavar="LIST", help=LABELS_HELP)
    li.add_argument("--model", help=MODEL_HELP)

    gu = sub.add_parser("gui", help="the desktop app (also: `serlive` alone, or `serlive FILE`)")
    gu.add_argument(
        "paths", nargs="*", help="audio files to open in the viewer (the first now, the others in turn)"
    )
    gu.add_argument("--model", help=MODEL_HELP)
    return p


SUBCOMMANDS = ("predict", "train", "evaluate", "devices", "listen", "gui")
#: what only the training extra installs, and ``serlive.train`` (left out of the standalone executable)
TRAIN_ONLY = ("tensorflow", "keras", "librosa", "sklearn", "matplotlib", "serlive.train")


def wants_gui(argv: Sequence[str]) -> bool:
    """No arguments, or a file first (``serlive take.wav``, ``serlive take.wav --model m.tflite``): the app.

    A first argument that names no file but looks like one (it has an extension) opens the app too,
    whose window says the file cannot be opened, as ``serlive gui missing.wav`` does: printed on a
    terminal, the message was lost when a desktop launcher or file manager ran ``serlive FILE``.  Other
    words (``serlive predcit``) are left to argparse, which lists the subcommands.
    """
    if not argv:
        return True
    first = argv[0]
    if first.startswith("-") or first in SUBCOMMANDS:
        return False
    return Path(first).is_file() or bool(Path(first).suffix)


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop app (Qt is imported only here)."""
    try:
        from serlive.gui.app import run
    except ImportError as exc:
        print(f"serlive: the desktop app needs PySide6 and pyqtgraph ({exc})", file=sys.stderr)
        return EXIT_USAGE
    return run(args.paths, args.model)


def _jobs_count(text: str) -> int:
    """``--jobs``: a whole number of workers, at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number of workers, not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _seconds(text: str) -> float:
    """A positive number of seconds; argparse said "invalid _positive_float value: 'abc'" for a word."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 30 or 2.5)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds (e.g. 30 or 2.5)")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``serlive`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_gui(argv):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        if args.command:
            parser.error("--install-desktop-entry and --uninstall-desktop-entry take no subcommand")
        return cmd_desktop_entry(install=args.install_desktop_entry)
    try:
        if args.command == "predict":
            return cmd_predict(args)
        if args.command == "train":
            return cmd_train(args, argv[1:])
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "devices":
            return cmd_devices(args)
        if args.command == "listen":
            return cmd_listen(args)
        if args.command == "gui":
            return cmd_gui(args)
        parser.print_help()
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("serlive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except ModuleNotFoundError as exc:
        # the trainer without the [train] extra, or in the standalone executable (which has none)
        name = exc.name or ""
        if args.command in ("train", "evaluate") and name.startswith(TRAIN_ONLY):
            print(
                f"serlive {args.command}: needs the training extra, pip install -e '.[train]' ({exc})",
                file=sys.stderr,
            )
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
