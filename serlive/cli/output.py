"""What ``serlive predict`` and ``serlive listen`` print: text for people, JSON lines, CSV rows.

Why a module of its own: the subcommands in :mod:`serlive.cli` decide what to
analyse; this decides how a result reads, so the three formats of one file's
result (and a live window's or utterance's line) are written in one place.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any, TextIO


def round_list(xs: Any, nd: int = 4) -> list[float]:
    return [round(float(x), nd) for x in xs]


def analysis_record(given: str, a: Any, timeline: bool) -> dict[str, Any]:
    """The JSON object ``predict --format json`` prints for one file."""
    # nothing was speech: no confidence and no distribution (the mean of non-speech windows is
    # not an answer; the GUI shows none either)
    rec: dict[str, Any] = {
        "path": given,
        "label": a.label if a.speech else "no speech",
        "confidence": round(a.confidence, 4) if a.speech else None,
        "probabilities": dict(zip(a.labels, round_list(a.probabilities), strict=True)) if a.speech else None,
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
                "probabilities": dict(zip(a.labels, round_list(w.probabilities), strict=True)),
            }
            for w in a.windows
        ]
    return rec


def labelled_segments(
    model: Any, a: Any, found: tuple[list[Any], dict[Any, Any]], labelset: Any
) -> list[Any]:
    """The utterances of one analysed file, over the chosen labels."""
    from serlive.labelsets import view
    from serlive.segments import label_segments

    segs, centred = found
    short = None if a.adapted else (lambda ss: [centred[s] for s in ss])
    utts = label_segments(segs, a, model.meta.windows.window_s, short)
    return [view(u, labelset, "probabilities") for u in utts]


def write_prediction(
    args: argparse.Namespace,
    model: Any,
    writer: Any,
    given: str,
    a: Any,
    segs: Any = None,
    out: TextIO | None = None,
) -> None:
    """One file's result (or, for a string, the reason it could not be read) in ``args.format``.

    ``out``: standard output, or ``--output``'s file (``writer`` must write to the same stream).
    """
    from serlive.labelsets import view_analysis

    out = out or sys.stdout
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
    from serlive.audio.io import truncation_warning

    utts = labelled_segments(model, a, segs, labelset) if segs is not None else None
    rec = analysis_record(given, view_analysis(a, labelset), args.timeline)
    # a file cut short opens as a shorter complete one: say so (JSON: a field; text and CSV: stderr)
    warning = truncation_warning(given)
    if warning is not None:
        rec["warning"] = warning
        if args.format != "json":
            print(f"serlive: {given}: warning: {warning}", file=sys.stderr)
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
