"""The calibration study's tables and the guard rule's decision, from its results files.

Why a module of its own: the study (:mod:`serlive.train.calibration_eval`) runs for an hour and
writes one JSON line per result; these tables are read from those lines at any time, also while
the study still runs, and are what ``docs/calibration.md`` shows.

    python -m serlive.train.calibration_report            # runs/calib/report.md
    python -m serlive.train.calibration_report --guards   # runs/calib/guard-report.md and the decision
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from serlive.profiles.methods import GUARDS
from serlive.train.calibration_eval import KS, OUT

METHOD_COLUMNS = ("plain", "session", "bias", "prototypes", "prototypes+bias", "head", "auto",
                  "raw:prototypes+bias", "adapt-enrol", "adapt-enrol+auto")  # fmt: skip
CORPUS_NAMES = {"ravdess": "RAVDESS 1-20", "nemo": "nEMO", "ased": "ASED", "esd": "ESD-0020",
                "turevdb": "TurEV-DB", "emotiontts": "Korean"}  # fmt: skip


def _rows(pattern: str = "study*.jsonl") -> list[dict[str, Any]]:
    out = []
    for f in sorted(OUT.glob(pattern)):
        out += [json.loads(line) for line in f.read_text().splitlines()]
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Per (corpus, mode, k): each method's mean over units (a unit: the mean of its draws) and worst unit."""
    by: dict[tuple[str, str, int], dict[str, dict[str, list[float]]]] = {}
    for r in rows:
        corp = r["set"].rstrip("0123456789-") or "ravdess"
        units = by.setdefault((corp, r["mode"], r["k"]), {})
        for m, v in r.items():
            if isinstance(v, float) and not m.startswith(("fit_s", "cv_s")):
                units.setdefault(m, {}).setdefault(r["unit"], []).append(v)
        for m, v in r.items():
            if m.startswith("chose:"):
                units.setdefault("changed:" + m[6:], {}).setdefault(r["unit"], []).append(float(v != "none"))
    out = {}
    for key, methods in by.items():
        out[key] = {}
        for m, units in methods.items():
            per_unit = [float(np.mean(v)) for v in units.values()]
            out[key][m] = {
                "mean": float(np.mean(per_unit)),
                "worst": float(np.min(per_unit)),
                "units": len(per_unit),
            }
    return out


def report() -> str:
    """The Markdown tables of docs/calibration.md from the study's results."""
    summ = summarise(_rows())
    lines: list[str] = []
    corpora = [c for c in CORPUS_NAMES if any(key[0] == c for key in summ)]
    for mode, ks in (("speaker", KS), ("corpus", KS)):
        for k in ks:
            present = [c for c in corpora if (c, mode, k) in summ]
            if not present:
                continue
            cols = [m for m in METHOD_COLUMNS if any(m in summ[(c, mode, k)] for c in present)]
            what = (
                "per speaker (mean over speakers / worst speaker)"
                if mode == "speaker"
                else "per corpus (mean of draws)"
            )
            lines += ["", f"**{what}, k = {k} clips per emotion**", ""]
            lines.append("| corpus | units | " + " | ".join(cols) + " | auto changed |")
            lines.append("|" + "---|" * (len(cols) + 3))
            means: dict[str, list[float]] = {m: [] for m in cols}
            for c in present:
                d = summ[(c, mode, k)]
                cells = []
                for m in cols:
                    if m not in d:
                        cells.append("")
                        continue
                    means[m].append(d[m]["mean"])
                    cells.append(
                        f"{d[m]['mean']:.1%} / {d[m]['worst']:.1%}"
                        if mode == "speaker"
                        else f"{d[m]['mean']:.1%}"
                    )
                ch = d.get("changed:auto", {}).get("mean", float("nan"))
                lines.append(
                    f"| {CORPUS_NAMES[c]} | {d['plain']['units']} | " + " | ".join(cells) + f" | {ch:.0%} |"
                )
            lines.append(
                "| **mean** | | "
                + " | ".join(
                    f"**{np.mean(v):.1%}**" if len(v) == len(present) else "" for v in means.values()
                )
                + " | |"
            )
    own = [(c, k) for c in corpora for k in (2, 4, 8) if (c, "own", k) in summ]
    if own:
        lines += ["", "**own labels: valence (negative / neutral / positive), per speaker**", ""]
        lines += [
            "| corpus | k | own head (mean / worst speaker) | plain model summed |",
            "|---|---|---|---|",
        ]
        for c, k in own:
            d = summ[(c, "own", k)]
            lines.append(f"| {CORPUS_NAMES[c]} | {k} | {d['own']['mean']:.1%} / {d['own']['worst']:.1%} | "
                         f"{d['plain-summed']['mean']:.1%} |")  # fmt: skip
    bav = OUT / "baved.json"
    if bav.is_file():
        rows = json.loads(bav.read_text())
        lines += ["", "**own labels: BAVED arousal (3 levels), test speakers never enrolled**", ""]
        lines += ["| k per level | accuracy (mean of draws) | worst draw | chance |", "|---|---|---|---|"]
        for k in sorted({r["k"] for r in rows}):
            a = [r["own"] for r in rows if r["k"] == k]
            lines.append(f"| {k} | {np.mean(a):.1%} | {np.min(a):.1%} | 33.3 % |")
    return "\n".join(lines).replace("%", " %").replace("  %", " %")


#: each guard's letter in docs/calibration.md's rules
GUARD_LETTERS = {"clear": "A", "better": "B", "likelier": "C"}
GUARD_COLUMNS = {"plain": "plain", "session": "session",
                 **{f"prototypes+bias@{g}": f"{GUARD_LETTERS[g]} ({g})" for g in GUARDS},
                 "raw:prototypes+bias": "no guard"}  # fmt: skip


def _per_unit(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, dict[str, float]]]:
    """(corpus, mode, k) -> method -> unit -> the unit's mean over its draws."""
    acc: dict[tuple[str, str, int], dict[str, dict[str, list[float]]]] = {}
    for r in rows:
        corp = r["set"].rstrip("0123456789-") or "ravdess"
        d = acc.setdefault((corp, r["mode"], r["k"]), {})
        for m in GUARD_COLUMNS:
            d.setdefault(m, {}).setdefault(r["unit"], []).append(r[m])
        for g in GUARDS:
            kept = float(r[f"chose:prototypes+bias@{g}"] != "none")
            d.setdefault(f"kept@{g}", {}).setdefault(r["unit"], []).append(kept)
    return {
        key: {m: {u: float(np.mean(v)) for u, v in us.items()} for m, us in d.items()}
        for key, d in acc.items()
    }


def guard_decision(rows: list[dict[str, Any]], old: str = "clear", new: str = "better") -> dict[str, Any]:
    """A guard rule (docs/calibration.md) at k = 2 per speaker: does guard ``new`` replace ``old``?

    The second rule is ``clear`` -> ``better`` (A -> B), the third ``better`` -> ``likelier``
    (B -> C); both with the same three conditions."""
    a_, b_ = GUARD_LETTERS[old], GUARD_LETTERS[new]
    pu = _per_unit(rows)
    keys = [key for key in pu if key[1] == "speaker" and key[2] == 2]
    a = [np.mean(list(pu[key][f"prototypes+bias@{old}"].values())) for key in keys]
    b = [np.mean(list(pu[key][f"prototypes+bias@{new}"].values())) for key in keys]
    plain = [np.mean(list(pu[key]["plain"].values())) for key in keys]
    loss = [
        pu[key][f"prototypes+bias@{new}"][u] - pu[key]["plain"][u] for key in keys for u in pu[key]["plain"]
    ]
    out = {
        "sets": len(keys),
        a_: float(np.mean(a)),
        b_: float(np.mean(b)),
        "plain": float(np.mean(plain)),
        f"1: {b_} - {a_} >= 1 point": bool(np.mean(b) - np.mean(a) >= 0.01),
        f"2: no set below plain under {b_}": bool(all(bi >= pi for bi, pi in zip(b, plain, strict=True))),
        "speakers": len(loss),
        f"speakers losing > 5 points under {b_}": int(np.sum(np.array(loss) < -0.05)),
    }
    out["3: at most 5 % lose > 5 points"] = out[f"speakers losing > 5 points under {b_}"] <= 0.05 * len(loss)
    out[f"{b_} replaces {a_}"] = all(v for key, v in out.items() if key[0] in "123")
    return out


def guard_report() -> str:
    """The guard rules' tables: A, B, C, plain, session (and no guard), per test set."""
    rows = _rows("guard*.jsonl")
    pu = _per_unit(rows)
    lines: list[str] = []
    corpora = [c for c in CORPUS_NAMES if any(key[0] == c for key in pu)]
    for mode in ("speaker", "corpus"):
        for k in KS:
            present = [c for c in corpora if (c, mode, k) in pu]
            if not present:
                continue
            sp = mode == "speaker"
            what = "per speaker (mean over speakers / worst speaker)" if sp else "per corpus (mean of draws)"
            lines += ["", f"**{what}, k = {k} clips per emotion**", ""]
            letters = [GUARD_LETTERS[g] for g in GUARDS]
            extra = [f"{x}: lose > 5" for x in letters] if sp else []
            head = ["corpus", "units", *GUARD_COLUMNS.values(), *extra, *(f"{x} kept" for x in letters)]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            means: dict[str, list[float]] = {m: [] for m in GUARD_COLUMNS}
            losers = {g: [0, 0] for g in GUARDS}
            for c in present:
                d = pu[(c, mode, k)]
                cells = []
                for m in GUARD_COLUMNS:
                    v = list(d[m].values())
                    means[m].append(float(np.mean(v)))
                    cells.append(f"{np.mean(v):.1%} / {np.min(v):.1%}" if sp else f"{np.mean(v):.1%}")
                if sp:
                    for g in GUARDS:
                        lost = sum(d[f"prototypes+bias@{g}"][u] - d["plain"][u] < -0.05 for u in d["plain"])
                        losers[g][0] += int(lost)
                        losers[g][1] += len(d["plain"])
                        cells.append(f"{lost} ({lost / len(d['plain']):.0%})")
                cells += [f"{np.mean(list(d[f'kept@{g}'].values())):.0%}" for g in GUARDS]
                lines.append(f"| {CORPUS_NAMES[c]} | {len(d['plain'])} | " + " | ".join(cells) + " |")
            total = [f"**{np.mean(v):.1%}**" for v in means.values()]
            if sp:
                total += [f"**{n} of {t} ({n / t:.1%})**" for n, t in losers.values()]
            lines.append("| **mean** | | " + " | ".join(total) + " |" + " |" * len(GUARDS))
    if any(key[1:] == ("speaker", 2) for key in pu):
        lines += ["", "second rule (k = 2 per speaker): " + json.dumps(guard_decision(rows))]
        third = guard_decision(rows, "better", "likelier")
        lines += ["", "third rule (k = 2 per speaker): " + json.dumps(third)]
    return "\n".join(lines).replace("%", " %").replace("  %", " %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guards", action="store_true", help="the guard rules' comparison (A, B, C)")
    args = ap.parse_args(argv)
    text = guard_report() if args.guards else report()
    (OUT / ("guard-report.md" if args.guards else "report.md")).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
