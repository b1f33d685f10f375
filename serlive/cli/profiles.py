"""``serlive calibrate``, ``serlive profiles`` and the ``--profile`` option of predict, listen and the app.

Why here and not in ``commands.py``: calibration is a workflow of its own (gather labelled clips,
analyse them, fit, report, save) with its own messages; the other subcommands only need
:func:`open_model`, which loads the model through the profile the user asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from serlive.model import EmotionModel, ModelError
from serlive.profiles.store import calibration_table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: a ``--profile`` (or ``$SERLIVE_PROFILE``) value meaning "the plain model"
NO_PROFILE = ("", "none")


def profile_ref(args: argparse.Namespace) -> str | None:
    """The profile asked for: ``--profile``, else ``$SERLIVE_PROFILE``; None for none."""
    ref = asked_profile(args)
    return None if ref is None or ref.strip().lower() in NO_PROFILE else ref


def asked_profile(args: argparse.Namespace) -> str | None:
    """What ``--profile`` or ``$SERLIVE_PROFILE`` says, ``"none"`` included; None when neither is given.

    The app needs the difference: nothing given means the profile chosen last time in
    Listen ▸ Profile, while ``none`` means the general model now.
    """
    ref = getattr(args, "profile", None)
    if ref is None:
        ref = os.environ.get("SERLIVE_PROFILE") or None
    return ref


def open_model(args: argparse.Namespace, **kwargs: Any) -> EmotionModel:
    """The model of ``--model``, judging through the profile asked for; ModelError says why not."""
    from serlive.profiles.store import ProfileError, load_profile

    ref = profile_ref(args)
    try:
        profile = None if ref is None else load_profile(ref)
    except ProfileError as exc:
        raise ModelError(str(exc)) from exc
    return EmotionModel(args.model, profile=profile, **kwargs)


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    """``--profile NAME|FILE`` on a subcommand."""
    parser.add_argument(
        "--profile",
        metavar="NAME|FILE",
        help="judge through a calibration profile (made by serlive calibrate): a name from "
        "`serlive profiles` or a file; none = the plain model (default: $SERLIVE_PROFILE, else none)",
    )


def add_calibrate_parsers(sub: Any) -> None:
    """The ``calibrate`` and ``profiles`` subcommands."""
    ca = sub.add_parser(
        "calibrate",
        help="fit a profile to your voice, language or labels from a few labelled clips",
        description="Fit a calibration profile. DIR holds one folder per label (neutral/, happy/, ... "
        "or labels of your own such as stressed/, relaxed/), each with clips of that label; or give "
        "--csv with path,label rows. Labels that are the model's (in any case) calibrate the model; other "
        "labels make a new set of labels over the model's embedding. Two or more clips per label, "
        "four or more recommended.",
    )
    ca.add_argument("dir", nargs="?", metavar="DIR", help="one folder per label, each holding clips")
    ca.add_argument("--csv", metavar="FILE", help="path,label rows instead of DIR (paths relative to FILE)")
    ca.add_argument("--out", metavar="FILE", help="write the profile here (a .json file)")
    ca.add_argument(
        "--name",
        help="the profile's name; without --out it is saved under this name in the profiles folder "
        "(`serlive profiles` lists them), so --profile NAME finds it",
    )
    ca.add_argument(
        "--own-labels",
        action="store_true",
        help="treat the labels as your own even where they are the model's names (a new head)",
    )
    ca.add_argument("--model", help="the model to calibrate (default: the shipped model)")
    ca.add_argument("--force", action="store_true", help="replace an existing profile of that name or file")

    pf = sub.add_parser("profiles", help="list or delete calibration profiles")
    pf.add_argument("action", nargs="?", choices=("list", "delete", "show", "folder"), default="list")
    pf.add_argument("names", nargs="*", metavar="NAME|FILE")


# --- serlive calibrate ------------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    """Gather the labelled clips, analyse them as predict does, fit, report, and save the profile."""
    from serlive.files.enrolment import EnrolmentError, clips_from_csv, clips_from_folder, enrol
    from serlive.profiles.build import make_profile
    from serlive.profiles.store import (
        NAME_RE,
        ProfileError,
        is_path,
        profile_path,
        save_profile,
    )

    err = sys.stderr
    if (args.dir is None) == (args.csv is None):
        print("serlive calibrate: give DIR (one folder per label) or --csv FILE, not both", file=err)
        return EXIT_USAGE
    if args.out is None and args.name is None:
        print("serlive calibrate: say where the profile goes: --out FILE, or --name NAME", file=err)
        return EXIT_USAGE
    name = args.name or Path(args.out).stem
    if args.out is None and (is_path(name) or not NAME_RE.match(name)):
        print(
            f"serlive calibrate: {name!r} cannot be a profile's name (letters, digits, space . _ -)", file=err
        )
        return EXIT_USAGE
    target = Path(args.out).expanduser() if args.out else profile_path(name)
    if target.exists() and not args.force:
        print(f"serlive calibrate: {target} exists; add --force to replace it", file=err)
        return EXIT_USAGE
    try:
        model = EmotionModel(args.model)
    except ModelError as exc:
        print(f"serlive: {exc}", file=err)
        return EXIT_USAGE
    try:
        clips = clips_from_csv(args.csv) if args.csv else clips_from_folder(args.dir)
        bar = _bar(len(clips), "analysing")
        try:
            report = enrol(clips, model, own=args.own_labels, progress=lambda *_: bar.update(1))
        finally:
            bar.close()
    except EnrolmentError as exc:
        if exc.skipped is not None:
            _tell_skipped(exc.skipped)
        print(f"serlive calibrate: {exc}", file=err)
        return EXIT_USAGE
    _tell_skipped(report)
    profile = make_profile(name, report.enrolment, report.kind, model.sha256, model.path.name)
    print(calibration_table(profile))
    try:
        path = save_profile(profile, target)
    except ProfileError as exc:
        print(f"serlive calibrate: {exc}", file=err)
        return EXIT_FAILED
    use = name if args.out is None else str(path)
    print(
        f"saved {path}\nuse it: serlive predict --profile {_quote(use)} FILE, or Listen ▸ Profile in the app"
    )
    return EXIT_OK


def _tell_skipped(report: Any) -> None:
    """The notes on label spellings, and every clip left out and why (stderr)."""
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in report.no_speech:
        print(f"skipped (no speech heard): {path}", file=sys.stderr)
    for path, why in report.unreadable:
        print(f"skipped (unreadable): {path}: {why}", file=sys.stderr)


def _quote(s: str) -> str:
    return f"'{s}'" if any(c in s for c in " '\"") else s


def _bar(total: int, desc: str) -> Any:
    """tqdm on a terminal's stderr, silent elsewhere."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", file=sys.stderr, disable=not sys.stderr.isatty())


# --- serlive profiles -------------------------------------------------------------------------------
def cmd_profiles(args: argparse.Namespace) -> int:
    """List, show or delete profiles; ``folder`` prints where they live."""
    from serlive.profiles.store import (
        Profile,
        ProfileError,
        delete_profile,
        list_profiles,
        load_profile,
        profiles_dir,
    )

    if args.action == "folder":
        print(profiles_dir())
        return EXIT_OK
    if args.action == "list":
        found = list_profiles()
        if not found:
            print(f"no profiles in {profiles_dir()} (make one with serlive calibrate)")
        for p in found:
            if isinstance(p, Profile):
                print(f"{p.summary()}  [{p.created[:10]}, model {p.model_file}]")
            else:
                print(f"{p[0].name}: unreadable ({p[1]})")
        return EXIT_OK
    if not args.names:
        print(f"serlive profiles {args.action}: name the profile(s)", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for ref in args.names:
        try:
            if args.action == "delete":
                print(f"deleted {delete_profile(ref)}")
            else:
                profile = load_profile(ref)
                print(f"{profile.path}\n{calibration_table(profile)}\ncreated {profile.created}, "
                      f"model {profile.model_file} (sha256 {profile.model_sha256[:12]}…)")  # fmt: skip
        except ProfileError as exc:
            print(f"serlive profiles: {exc}", file=sys.stderr)
            status = EXIT_FAILED
    return status
