"""Fitting the status line into the width the status bar has for it (no Qt).

Why: a status line of the Live tab ("Monitor of Virtual_mic via default @ 16000 Hz  |  decision
latency 41.2 ms  |  dropped samples 0  |  windows 81  |  adapted to this voice (38 s of speech)")
was cut off at about 1200 px, mid-word ("… adapted to this voice (38 s of sp", issue 28, item 5).
Here the parts of a line (joined by :data:`SEP`) first take their short forms ("adapted, 38 s"),
then the longest part (a device name or a path) is elided in the middle, and only then are parts
dropped from the end; the view puts the whole line in the label's tooltip whenever what shows is
not all of it.  ``measure`` is the label's font metrics, so this is tested without pixels too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SEP = "  |  "  #: what separates the parts of a status line
ELLIPSIS = "…"
#: a part elided in the middle keeps at least this many characters (fewer reads as noise)
MIN_ELIDED_CHARS = 12

#: (pattern, short form) for each part that has one; the short form keeps the number that matters
SHORT_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^adapted to this voice \((\d+) s of speech\)$"), r"adapted, \1 s"),
    (re.compile(r"^adapting to the voice: (\d+) of (\d+) s of speech$"), r"adapting, \1/\2 s"),
    (re.compile(r"^decision latency (.*)$"), r"latency \1"),
    (re.compile(r"^dropped samples (\d+)$"), r"dropped \1"),
    (re.compile(r"^waiting for the first audio from the device…$"), "waiting for audio…"),
    (re.compile(r"^analysing every (\S+) s \(busy\)$"), r"every \1 s (busy)"),
    (re.compile(r"^stale samples skipped at Start (\d+)$"), r"stale \1"),
    (re.compile(r"^(\d+) windows? of \S+ s every \S+ s, (\d+) with speech$"), r"\1 windows, \2 speech"),
)


def short_form(part: str) -> str:
    """``part``'s short form, or ``part`` itself where it has none."""
    for pattern, repl in SHORT_FORMS:
        if pattern.match(part):
            return pattern.sub(repl, part)
    return part


def elide_middle(text: str, width: float, measure: Callable[[str], float]) -> str | None:
    """``text`` with its middle replaced by "…" so that it measures at most ``width``.

    None when that would leave fewer than :data:`MIN_ELIDED_CHARS` characters.
    """
    if measure(text) <= width:
        return text
    lo, hi, best = MIN_ELIDED_CHARS, len(text) - 1, None
    while lo <= hi:  # the most characters kept that still fit
        keep = (lo + hi) // 2
        head = (keep + 1) // 2
        candidate = text[:head] + ELLIPSIS + text[len(text) - (keep - head) :]
        if measure(candidate) <= width:
            best, lo = candidate, keep + 1
        else:
            hi = keep - 1
    return best


def fit_status(text: str, width: float, measure: Callable[[str], float]) -> str:
    """What of ``text`` to show in ``width`` (in ``measure``'s units): all of it where it fits.

    In order: the whole line; every part in its short form; the longest part elided in the
    middle; then parts dropped from the end, the line ending in "…" to say that more is in the
    tooltip.  The result always fits, down to "…" alone.
    """
    if measure(text) <= width:
        return text
    parts = [short_form(p) for p in text.split(SEP)]
    for keep in range(len(parts), 0, -1):  # all parts, then fewer: the last ones go first
        shown = parts[:keep] if keep == len(parts) else [*parts[:keep], ELLIPSIS]
        line = _fit_parts(shown, width, measure)
        if line is not None:
            return line
    return ELLIPSIS


def _fit_parts(parts: list[str], width: float, measure: Callable[[str], float]) -> str | None:
    """``parts`` joined, with the longest elided in the middle where needed; None where that cannot fit."""
    line = SEP.join(parts)
    if measure(line) <= width:
        return line
    longest = max(range(len(parts)), key=lambda i: len(parts[i]))
    rest = measure(SEP.join([*parts[:longest], "", *parts[longest + 1 :]]))
    elided = elide_middle(parts[longest], width - rest, measure)
    return None if elided is None else SEP.join([*parts[:longest], elided, *parts[longest + 1 :]])
