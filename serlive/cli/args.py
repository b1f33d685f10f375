"""The ``serlive`` argument parser: every subcommand's options, their help and their checks.

Why a module of its own: the parser is long (six subcommands), and what an
option accepts and how its help reads is a thing of its own, apart from what
the subcommands in :mod:`serlive.cli` do with it.
"""

from __future__ import annotations

import argparse
from typing import Any

from serlive import __version__
from serlive.cli.profiles import add_calibrate_parsers, add_profile_option


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


MODEL_HELP = "a .tflite exported by serlive train, or the shipped model: whisper (the default)"


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
    pr.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        help="default: text, or with --output the file's suffix (.jsonl/.json: json, .csv: csv)",
    )
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
    add_profile_option(pr)
    add_predict_scale_options(pr)

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
        "0.02 s for a serlive train CNN) (default: 0.5, widened to 1 s while the machine is too busy; a hop "
        "given here stays fixed)",
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
    add_profile_option(li)

    gu = sub.add_parser("gui", help="the desktop app (also: `serlive` alone, or `serlive FILE`)")
    gu.add_argument(
        "paths", nargs="*", help="audio files to open in the viewer (the first now, the others in turn)"
    )
    gu.add_argument("--model", help=MODEL_HELP)
    add_profile_option(gu)
    add_calibrate_parsers(sub)
    return p


def _number(text: str, kind: type, ok: Any, not_a_number: str, out_of_range: str) -> Any:
    """``text`` as ``kind`` when ``ok`` accepts it; else argparse's error with our message, not its own."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(not_a_number) from None
    if not ok(value):
        raise argparse.ArgumentTypeError(out_of_range)
    return value


def _jobs_count(text: str) -> int:
    """``--jobs``: a whole number of workers, at least 1."""
    return _number(
        text,
        int,
        lambda n: n >= 1,
        f"takes a whole number of workers, not {text!r}",
        f"must be at least 1, not {text}",
    )


def _seconds(text: str) -> float:
    """A positive number of seconds; argparse said "invalid _positive_float value: 'abc'" for a word."""
    return _number(
        text,
        float,
        lambda v: v > 0 and v != float("inf"),  # NaN fails v > 0
        f"{text!r} is not a number of seconds (e.g. 30 or 2.5)",
        f"{text!r}: expected a positive number of seconds (e.g. 30 or 2.5)",
    )


def add_predict_scale_options(pr: argparse.ArgumentParser) -> None:
    """``predict``'s options for long work: a Dask cluster, an output file, and resuming into it."""
    pr.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="analyse on a Dask cluster: a scheduler's address (tcp://host:8786) or local:N worker "
        "processes here; default $SERLIVE_CLUSTER. The workers read the files by path. Needs the "
        "[cluster] extra (docs/scale.md)",
    )
    pr.add_argument(
        "--output",
        metavar="FILE",
        help="write the results to FILE (appended and flushed per file) instead of standard output; "
        "a new file unless --resume",
    )
    pr.add_argument(
        "--resume",
        action="store_true",
        help="with --output: skip the files already in FILE (same path, size, modification time and "
        "model), and append the rest",
    )
