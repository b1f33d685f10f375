"""``serlive`` command line: a thin adapter over :mod:`serlive.files.analysis` and the trainer.

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

from serlive.cli.args import build_parser
from serlive.cli.output import format_result_line, format_utterance_line, write_prediction
from serlive.cli.profiles import asked_profile, cmd_calibrate, cmd_profiles, open_model, profile_ref

# one BLAS thread: OpenBLAS threads cause 8 ms spikes when the other core is busy
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_PROFILE_OR_SESSION = (
    "serlive: {opt} and --profile (or $SERLIVE_PROFILE): a profile is already fitted to a voice; "
    "use one or the other (--profile none turns the profile off)"
)


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


def _segment_config(args: argparse.Namespace) -> Any:
    """The pause rule from ``--min-pause``/``--max-segment`` (defaults: :class:`SegmentConfig`'s)."""
    from serlive.config import SegmentConfig

    given = {"min_pause_s": args.min_pause, "max_segment_s": args.max_segment}
    return SegmentConfig(**{k: v for k, v in given.items() if v is not None})


def cmd_predict(args: argparse.Namespace) -> int:
    """Analyse files and print (or write to ``--output``) one result per file."""
    from serlive.cli.predict_scale import check_scale_options, open_output, predict_results
    from serlive.cli.progress import PredictProgress
    from serlive.cli.resume import ResumeError, file_key
    from serlive.files.analysis import adapt_to_session
    from serlive.files.cluster import ClusterError
    from serlive.labelsets import LabelSetError, parse_labels
    from serlive.model import ModelError

    if args.session and profile_ref(args) is not None:
        print(_PROFILE_OR_SESSION.format(opt="--session"), file=sys.stderr)
        return EXIT_USAGE
    problem = check_scale_options(args)
    if problem:
        print(f"serlive predict: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = open_model(args)
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
    header = ""
    if args.format == "csv":
        head = ["path", "start", "end"] if args.timeline or args.segments else ["path"]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(
            [*head, "label", "confidence", *args.labelset.names, "duration_s", "error"]
        )
        header = buf.getvalue()
    out: TextIO = sys.stdout
    results_file = None
    skipped = 0
    if args.output:
        try:
            results_file = open_output(args, model, header)
        except ResumeError as exc:
            print(f"serlive predict: {exc}", file=sys.stderr)
            return EXIT_USAGE
        out = results_file.stream
        kept = [(g, p) for g, p in inputs if file_key(p) not in results_file.keys]
        skipped, inputs = len(inputs) - len(kept), kept
    elif header:
        out.write(header)
    writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
    progress = PredictProgress(len(inputs), skipped)
    # (given, Analysis or the reason it failed, (segments, centred windows) with --segments)
    done: list[tuple[str, Any, Any]] = []
    try:
        results = predict_results(args, model, [p for _, p in inputs], seg_cfg)
        for (given, path), (a, segs) in zip(inputs, results, strict=True):  # in input order, each when done
            done.append((given, a, segs))
            if not args.session:  # one file at a time; a session waits for all its files
                write_prediction(args, model, writer, *done.pop(), out=out)
                if results_file is not None:
                    results_file.done(path)
            progress.step(a)
    except ClusterError as exc:
        err = sys.stderr
        progress.close(summary=False)
        print(f"serlive predict: {exc}", file=sys.stderr)
        if results_file is not None:
            results_file.close()
            print(f"serlive predict: {args.output} holds every file finished: --resume goes on", file=err)
        return EXIT_USAGE
    progress.close(summary=None if results_file is None and not args.cluster else True)
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
        for (given, a, segs), (_, path) in zip(done, inputs, strict=True):
            write_prediction(args, model, writer, given, a, segs, out=out)
            if results_file is not None:
                results_file.done(path)
    if results_file is not None:
        results_file.close()
    return EXIT_FAILED if progress.failed else EXIT_OK


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


def cmd_listen(args: argparse.Namespace, source: Any = None) -> int:
    """Live emotion probabilities from a microphone, one line per window.

    ``source`` replaces the microphone (tests, demos): any
    :class:`serlive.audio.sources.AudioSource`.
    """
    from serlive.audio.record import RecordError
    from serlive.audio.sources import AudioDeviceError, MicrophoneSource
    from serlive.labelsets import LabelSetError, parse_labels, view
    from serlive.live.engine import Engine, EngineError, Result, StreamEnd
    from serlive.model import ModelError

    err = sys.stderr
    if getattr(args, "adapt", False) and profile_ref(args) is not None:
        print(_PROFILE_OR_SESSION.format(opt="--adapt"), file=err)
        return EXIT_USAGE
    try:
        model = open_model(args, num_threads=1)
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
            # a busy machine widens the hop to 1 s and back (stream_hop); a --hop the user chose stays
            adaptive_hop=args.hop is None,
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
    if args.record is not None and args.duration is not None:  # exactly the duration, not the clock's
        engine.end_take_at(round(args.duration * rate))
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
                # a take cut at its sample count: wait for its last samples (the device's blocks
                # arrive after the clock says so), for at most 5 s
                if wait <= 0 and not (engine.recording and time.monotonic() < deadline + 5.0):
                    break
                wait = max(wait, 0.05)
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


def cmd_desktop_entry(install: bool) -> int:
    """Write (or remove) the menu entry and icon in the user's XDG data folders."""
    from serlive.cli import desktop

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


SUBCOMMANDS = ("predict", "train", "evaluate", "devices", "listen", "gui", "calibrate", "profiles")
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
    return run(args.paths, args.model, asked_profile(args))


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
        if args.command == "train":
            return cmd_train(args, argv[1:])
        commands = {
            "predict": cmd_predict,
            "evaluate": cmd_evaluate,
            "devices": cmd_devices,
            "listen": cmd_listen,
            "gui": cmd_gui,
            "calibrate": cmd_calibrate,
            "profiles": cmd_profiles,
        }
        if args.command in commands:
            return commands[args.command](args)
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
