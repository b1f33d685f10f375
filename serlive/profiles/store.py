"""Calibration profiles on disk: one small versioned JSON file each, written whole or not at all.

Why a file of its own per profile: a user teaches the app their voice once and uses it from the
app, ``predict`` and ``listen``; the file says what it was fitted on (the model file's sha256, its
labels), how many clips each label had and what its own cross-validation measured, so a profile
made on another model, or a damaged one, is refused with a message instead of quietly skewing
every label.  The fitted numbers themselves are :mod:`serlive.profiles.methods`'; this module only
stores, finds, checks and lists them.

A profile's body carries a sha256 of itself: a truncated file fails to parse, and a file edited or
damaged in a way that still parses fails the checksum.  Writes go to a temporary file in the same
folder and are renamed over the target, so no reader ever sees half a profile.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # the methods bring scipy: imported when a profile is first applied, not at start-up
    from serlive.profiles.methods import Fitted

FORMAT = "serlive-profile"
VERSION = 1
KINDS = ("calibration", "own")
SUFFIX = ".json"
#: a profile over this size is refused on loading (one fitted head over a 1024-wide embedding is ~50 KB)
MAX_BYTES = 1 << 20
#: names a profile may be saved under in the profiles folder (also a file name on every platform)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class ProfileError(Exception):
    """A profile that cannot be read, written, found or used; ``str()`` says which and why."""


@dataclass(frozen=True)
class Profile:
    """A fitted calibration: what it maps the model's output onto, and what it was fitted on."""

    name: str
    kind: str
    labels: tuple[str, ...]
    model_labels: tuple[str, ...]
    model_sha256: str
    model_file: str
    method: str
    params: dict[str, Any]
    clips: dict[str, int]
    cv_plain: dict[str, float]
    cv_fitted: dict[str, float]
    created: str
    #: the examples it was fitted on (pooled embeddings, plain probabilities, label indices), kept so
    #: that "This was…" can refit it with one more (:mod:`serlive.profiles.build`); None: none kept
    examples: dict[str, NDArray[np.generic]] | None = field(default=None, compare=False, repr=False)
    path: Path | None = field(default=None, compare=False)

    def at(self, path: Path | None) -> Profile:
        """The same profile, known to live at ``path``."""
        return replace(self, path=path)

    @cached_property
    def fitted(self) -> Fitted:
        """The method's parameters rebuilt, ready to :meth:`apply`."""
        from serlive.profiles.methods import Fitted

        try:
            return Fitted.from_params(self.method, self.params, self.labels, self.model_labels)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"{self.where}: its fitted parameters are unusable ({exc})") from exc

    @property
    def where(self) -> str:
        """How messages name this profile."""
        return str(self.path) if self.path is not None else f"profile {self.name!r}"

    @property
    def changes_nothing(self) -> bool:
        """Its own cross-validation found no gain, so it keeps the plain model's judgement."""
        return self.method == "none"

    @property
    def kept_for_its_probabilities(self) -> bool:
        """A calibration kept at the plain model's cross-validated accuracy because its probabilities
        sit closer to the labels (a lower log-loss: the ``likelier`` guard); its messages say so."""
        p, f = self.cv_plain, self.cv_fitted
        return (
            self.kind == "calibration"
            and not self.changes_nothing
            and all(np.isfinite(d.get(key, np.nan)) for d in (p, f) for key in ("balanced", "log_loss"))
            and f["balanced"] <= p["balanced"]
            and f["log_loss"] < p["log_loss"]
        )

    def apply(self, embeddings: NDArray[np.float32], plain: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities over :attr:`labels` for rows of pooled embeddings and the plain head's output."""
        return self.fitted.apply(embeddings, plain)

    def check_model(self, sha256: str, labels: tuple[str, ...], model_name: str) -> None:
        """Refuse to run on a model other than the one the profile was fitted on."""
        if sha256 != self.model_sha256 or tuple(labels) != self.model_labels:
            raise ProfileError(
                f"{self.where} was fitted on the model file {self.model_file} "
                f"(sha256 {self.model_sha256[:12]}…), not on {model_name} (sha256 {sha256[:12]}…) in use: "
                "fit it again with `serlive calibrate` for this model"
            )

    def summary(self) -> str:
        """One line for listings and the status bar: name, labels, clips and the measured change."""
        n = sum(self.clips.values())
        plain, fitted = self.cv_plain.get("overall"), self.cv_fitted.get("overall")
        if self.changes_nothing:
            gain = "no change (calibration did not help in its own cross-validation)"
        elif plain is None or not np.isfinite(plain):
            gain = f"cross-validated {100 * (fitted or 0.0):.0f} %"
        else:
            gain = f"cross-validated {100 * plain:.0f} → {100 * (fitted or 0.0):.0f} %"
            if self.kept_for_its_probabilities:
                gain += f", log-loss {self.cv_plain['log_loss']:.2f} → {self.cv_fitted['log_loss']:.2f}"
        return f"{self.name}: {self.kind}, {', '.join(self.labels)}; {n} clips; {gain}"

    # --- storage ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The file's text: the body and its sha256."""
        body = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "kind": self.kind,
            "labels": list(self.labels),
            "model_labels": list(self.model_labels),
            "model_sha256": self.model_sha256,
            "model_file": self.model_file,
            "method": self.method,
            "params": {k: _encode(v) for k, v in self.params.items()},
            "clips": dict(self.clips),
            "cv": {"plain": _finite(self.cv_plain), "fitted": _finite(self.cv_fitted)},
            "created": self.created,
        }
        if self.examples:
            body["examples"] = {k: _encode(np.asarray(v)) for k, v in self.examples.items()}
        return json.dumps({**body, "sha256": _digest(body)}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, path: Path | None = None) -> Profile:
        """Parse and check a profile file's text; a ProfileError names what is wrong."""
        where = str(path) if path is not None else "profile"
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{where}: not a serlive profile (damaged or cut short: {exc})") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ProfileError(f"{where}: not a serlive profile")
        if raw.get("version") != VERSION:
            raise ProfileError(
                f"{where}: profile format version {raw.get('version')!r}; this serlive reads {VERSION}"
            )
        stored = raw.pop("sha256", None)
        if stored != _digest(raw):
            raise ProfileError(f"{where}: the profile is damaged (its checksum does not match its content)")
        try:
            kind = str(raw["kind"])
            labels = tuple(str(x) for x in raw["labels"])
            model_labels = tuple(str(x) for x in raw["model_labels"])
            profile = cls(
                name=str(raw["name"]),
                kind=kind,
                labels=labels,
                model_labels=model_labels,
                model_sha256=str(raw["model_sha256"]),
                model_file=str(raw["model_file"]),
                method=str(raw["method"]),
                params={k: _decode(v) for k, v in dict(raw["params"]).items()},
                clips={str(k): int(v) for k, v in dict(raw["clips"]).items()},
                cv_plain=_floats(raw["cv"]["plain"]),
                cv_fitted=_floats(raw["cv"]["fitted"]),
                created=str(raw["created"]),
                examples=_examples(raw.get("examples"), len(model_labels), len(labels)),
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"{where}: a field is missing or malformed ({exc})") from exc
        if kind not in KINDS:
            raise ProfileError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ProfileError(f"{where}: a profile needs two or more distinct labels, not {list(labels)}")
        if kind == "calibration" and not set(labels) <= set(model_labels):
            raise ProfileError(f"{where}: a calibration's labels must be among the model's")
        profile.fitted  # noqa: B018  (rebuild the method now: a bad parameter is refused on loading)
        return profile


def _examples(raw: Any, n_model: int, n_labels: int) -> dict[str, NDArray[np.generic]] | None:
    """The stored examples, checked for shape (a ValueError names what does not fit)."""
    if raw is None:
        return None
    ex = {k: np.asarray(_decode(raw[k])) for k in ("embeddings", "plain", "labels")}
    n = len(ex["labels"])
    if ex["embeddings"].ndim != 2 or len(ex["embeddings"]) != n or ex["plain"].shape != (n, n_model):
        raise ValueError("examples of mismatched shapes")
    if n and (ex["labels"].min() < 0 or ex["labels"].max() >= n_labels):
        raise ValueError("an example's label is out of range")
    return ex


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _finite(d: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an accuracy that does not exist (own labels' plain model) is null."""
    return {k: (float(v) if np.isfinite(v) else None) for k, v in d.items()}


def _floats(d: dict[str, Any]) -> dict[str, float]:
    return {str(k): (float("nan") if v is None else float(v)) for k, v in d.items()}


def _encode(v: Any) -> Any:
    """A parameter as JSON: arrays as dtype, shape and base64 of their little-endian bytes."""
    if isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<"))
        return {"dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float | int | str | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_encode(x) for x in v]
    raise TypeError(f"cannot store a parameter of type {type(v).__name__}")


def _decode(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"dtype", "shape", "b64"}:
        dtype = np.dtype(str(v["dtype"]))
        if dtype.kind not in "fiub":
            raise ValueError(f"array dtype {dtype} is not numeric")
        shape = tuple(int(s) for s in v["shape"])
        a = np.frombuffer(base64.b64decode(v["b64"], validate=True), dtype=dtype)
        return a.reshape(shape).astype(dtype.newbyteorder("="))
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


# --- how a profile reads ---------------------------------------------------------------------------
def calibration_table(profile: Profile) -> str:
    """Cross-validated accuracy per label, the plain model against the profile, and the verdict."""
    own = profile.kind == "own"
    rows = [f"{'label':<14} {'clips':>5} {'plain':>7} {'profile':>8}"]
    for label in (*profile.labels, "overall"):
        n = profile.clips.get(label, sum(profile.clips.values()))
        plain, fitted = _pct(profile.cv_plain.get(label)), _pct(profile.cv_fitted.get(label))
        rows.append(f"{label:<14} {n:>5} {plain:>7} {fitted:>8}")
    losses = (profile.cv_plain.get("log_loss"), profile.cv_fitted.get("log_loss"))
    if not own and all(v is not None and np.isfinite(v) for v in losses):
        rows.append(f"{'log-loss':<14} {'':>5} {losses[0]:>7.2f} {losses[1]:>8.2f}")
    if profile.changes_nothing:
        verdict = (
            "Calibration did not help in cross-validation on these clips: the profile keeps the plain "
            "model's judgement (no change). More clips per label, or clearer ones, may help."
        )
    elif own:
        verdict = f"Own labels ({profile.method}): the plain model has no such labels to compare with."
    elif profile.kept_for_its_probabilities:
        verdict = (
            f"Calibration helps in cross-validation ({profile.method}): the same accuracy on these "
            "clips, with probabilities closer to your labels (a lower log-loss)."
        )
    else:
        verdict = f"Calibration helps in cross-validation ({profile.method})."
    return "\n".join(
        [f"profile {profile.name!r}: {profile.kind}, cross-validated on your clips", *rows, verdict]
    )


def _pct(v: float | None) -> str:
    return "-" if v is None or v != v else f"{100 * v:.0f} %"


# --- where profiles live ----------------------------------------------------------------------------
def profiles_dir() -> Path:
    """The user's profiles folder: ``$SERLIVE_PROFILE_DIR``, else the platform's data folder.

    Linux and other Unix: ``$XDG_DATA_HOME/serlive/profiles`` (``~/.local/share`` when unset);
    macOS: ``~/Library/Application Support/serlive/profiles``; Windows: ``%APPDATA%\\serlive\\profiles``.
    """
    override = os.environ.get("SERLIVE_PROFILE_DIR")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "serlive" / "profiles"


def is_path(ref: str) -> bool:
    """A reference that names a file (has a folder part or the suffix) rather than a profile's name."""
    return "/" in ref or os.sep in ref or ref.endswith(SUFFIX) or ref.startswith(".")


def profile_path(ref: str | Path) -> Path:
    """The file a ``--profile`` value means: a path as given, or a name in :func:`profiles_dir`."""
    ref = str(ref)
    return Path(ref).expanduser() if is_path(ref) else profiles_dir() / f"{ref}{SUFFIX}"


def list_profiles() -> list[Profile | tuple[Path, str]]:
    """Every profile in the folder, by name; a file that cannot be read is listed with its reason."""
    folder = profiles_dir()
    out: list[Profile | tuple[Path, str]] = []
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            out.append(load_profile(p))
        except ProfileError as exc:
            out.append((p, str(exc)))
    return out


def profile_names() -> list[str]:
    """Names of the readable profiles in the folder (for menus and messages)."""
    return [p.name for p in list_profiles() if isinstance(p, Profile)]


def load_profile(ref: str | Path) -> Profile:
    """Read and check a profile by path or name; a ProfileError says why it cannot be used."""
    path = profile_path(ref)
    if not path.is_file():
        if is_path(str(ref)):
            raise ProfileError(f"{path}: no such profile file")
        names = profile_names()
        known = f"; profiles in {profiles_dir()}: {', '.join(names)}" if names else f" in {profiles_dir()}"
        raise ProfileError(f"no profile named {str(ref)!r}{known}")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProfileError(f"{path}: {size} bytes is too large for a serlive profile")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not a serlive profile (not text)") from exc
    return Profile.from_json(text, path)


def save_profile(profile: Profile, path: str | Path) -> Path:
    """Write ``profile`` to ``path`` whole (temporary file, then a rename); a ProfileError if it cannot."""
    path = Path(path).expanduser()
    text = profile.to_json()
    if len(text.encode()) > MAX_BYTES:
        raise ProfileError(f"{path}: the profile would be {len(text)} bytes, over the {MAX_BYTES} limit")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ProfileError(f"cannot write the profile to {path.parent}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ProfileError(f"cannot write the profile to {path}: {exc.strerror or exc}") from exc
    return path


def delete_profile(ref: str | Path) -> Path:
    """Remove a profile by name or path (after checking it is one)."""
    profile = load_profile(ref)
    assert profile.path is not None
    try:
        profile.path.unlink()
    except OSError as exc:
        raise ProfileError(f"cannot delete {profile.path}: {exc.strerror or exc}") from exc
    return profile.path


def today() -> str:
    """The date a profile records (UTC, ISO 8601)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
