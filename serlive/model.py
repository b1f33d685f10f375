"""The int8 TFLite model at run time: load, check its metadata, run it.

The ``.tflite`` file carries a JSON metadata entry named ``serlive`` (written
by :mod:`serlive.train.export` into the flatbuffer's ``metadata`` table).  It
holds the labels, the feature and window config, the normalisation and the
training provenance.  We read it with a tiny flatbuffer reader so the app
needs neither TensorFlow nor the flatbuffers package, and refuse any model
whose metadata the app cannot honour.

Runs on ``ai-edge-litert`` (the maintained successor of ``tflite-runtime``);
falls back to ``tflite_runtime`` only if that is what is installed.  Never
TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import AdaptationConfig
from serlive.config import LABELS, FeatureConfig, WindowConfig
from serlive.features import FEATURE_KINDS, FeatureExtractor
from serlive.tflite_metadata import FlatbufferError, flatbuffer_metadata

if TYPE_CHECKING:
    from serlive.profiles.store import Profile

METADATA_NAME = "serlive"
METADATA_VERSION = 1
#: The shipped default model: a file in the package's ``models/`` folder (package data, so it is in the
#: wheel, the sdist and the PyInstaller bundle).  Switching the default to another shipped file is this line.
DEFAULT_MODEL_NAME = "serlive-whisper.tflite"
#: metadata keys that date a model, newest convention first (``serlive.train.export`` writes ``trained``)
DATE_KEYS = ("trained", "created")


class ModelError(Exception):
    """A model file that cannot be used, with the reason in the message."""


def shipped_model_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """A model file shipped inside the package (``serlive/models/NAME``), wherever the package lives.

    Found through :mod:`importlib.resources` rather than a path relative to the checkout, so the same
    call works in an editable install, a regular install from a wheel or sdist, and the PyInstaller
    bundle (whose resource reader maps the package to ``sys._MEIPASS/serlive``).  Every supported
    layout keeps the package as plain files, so the resource is a real path that the runtime can read
    and that messages can show.
    """
    return Path(os.fspath(importlib.resources.files("serlive").joinpath("models", name)))


#: The shipped models by short name, for ``--model whisper`` and the GUI's choice.
SHIPPED_MODELS = {"whisper": "serlive-whisper.tflite"}
#: Models shipped once and retired: a name that asks for one gets why, not "file not found"
RETIRED_MODELS = {
    ("cnn", "serlive-cnn.tflite"): "the small CNN was retired on 2026-12-07: on held-out corpora it scored "
    "34/28/28/27 % where the encoder model scores 76/49/64/43 % (model card, serlive/models/README.md); "
    "use the default model, or a model of your own from serlive train"
}


def resolve_model_path(path: str | Path | None) -> Path:
    """A model path as the user gave it: a file, a shipped model's short name or file name, or the default.

    An existing file always wins, so a file named ``cnn`` in the working
    directory is still that file.
    """
    if path is None:
        return default_model_path()
    p = Path(path)
    if p.exists() or p.parent != Path("."):
        return p
    name = SHIPPED_MODELS.get(str(path), str(path))
    shipped = shipped_model_path(name)
    if shipped.is_file():
        return shipped
    why = next((w for names, w in RETIRED_MODELS.items() if str(path) in names), None)
    if why is not None:
        raise ModelError(f"{path}: {why}")
    return p


def default_model_path() -> Path:
    """``$SERLIVE_MODEL`` when set (``--model`` overrides both), else the shipped default model.

    The variable takes what ``--model`` takes (:func:`resolve_model_path`: a file, ``whisper``, a
    shipped file name): ``SERLIVE_MODEL=cnn`` said "cnn: model file not found" where ``--model cnn``
    worked, and the app then never listened (issue 28, item 12).
    """
    env = os.environ.get("SERLIVE_MODEL")
    if env:
        return resolve_model_path(env)
    return shipped_model_path()


def model_date(meta: ModelMetadata) -> str | None:
    """When the model was trained (exported), as its metadata says; None for models that do not say."""
    for key in DATE_KEYS:
        value = meta.extra.get(key)
        if value:
            return str(value)
    return None


def describe_model(path: str | Path) -> str:
    """One line for ``serlive --version``: the model file and its training date.

    Reads only the metadata (no runtime), so ``--version`` stays quick and still answers, with the
    reason, when the model is missing or unusable.
    """
    path = Path(path)
    try:
        entries = read_tflite_metadata(path.read_bytes())
        if METADATA_NAME not in entries:
            raise ModelError("no serlive metadata in the model")
        meta = ModelMetadata.from_json(entries[METADATA_NAME])
    except OSError as exc:
        return f"{path} (cannot read it: {exc.strerror or exc})"
    except ModelError as exc:
        return f"{path} ({exc})"
    date = model_date(meta)
    return f"{path} ({f'trained {date}' if date else 'training date not recorded'})"


def read_tflite_metadata(data: bytes) -> dict[str, bytes]:
    """All ``metadata`` entries of a TFLite flatbuffer as ``{name: bytes}`` (ModelError if corrupt)."""
    try:
        return flatbuffer_metadata(data)
    except FlatbufferError as exc:
        raise ModelError(str(exc)) from exc


# --- metadata -----------------------------------------------------------------
@dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself; see :mod:`serlive.train.export`."""

    labels: tuple[str, ...]
    features: FeatureConfig
    windows: WindowConfig
    normalisation: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes) -> ModelMetadata:
        """Parse and validate; every problem becomes a :class:`ModelError`."""
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"model metadata is not valid JSON ({exc})") from exc
        if not isinstance(d, dict):
            raise ModelError("model metadata is not a JSON object")
        if d.get("format") != METADATA_NAME or d.get("version") != METADATA_VERSION:
            raise ModelError(
                f"model metadata format {d.get('format')!r} v{d.get('version')!r} is not "
                f"{METADATA_NAME!r} v{METADATA_VERSION}"
            )
        try:
            feats = FeatureConfig.from_dict(d["features"])
            _check_types(feats, FeatureConfig())
            w = d["windows"]
            windows = WindowConfig(
                window_s=float(w["window_s"]),
                hop_s=float(w["hop_s"]),
                file_hop_s=None if w.get("file_hop_s") is None else float(w["file_hop_s"]),
                silence_dbfs=float(w.get("silence_dbfs", WindowConfig.silence_dbfs)),
                # models exported before the VAD carry no VAD fields: they get the defaults
                vad_threshold=float(w.get("vad_threshold", WindowConfig.vad_threshold)),
                vad_min_fraction=float(w.get("vad_min_fraction", WindowConfig.vad_min_fraction)),
            )
            labels = tuple(str(x) for x in d["labels"])
            norm = dict(d.get("normalisation", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"model metadata incomplete or malformed ({exc})") from exc
        extra = {
            k: v
            for k, v in d.items()
            if k not in ("format", "version", "features", "windows", "labels", "normalisation")
        }
        return cls(labels, feats, windows, norm, extra)

    def to_json_dict(self) -> dict[str, Any]:
        """Inverse of :meth:`from_json` (before encoding)."""
        return {
            "format": METADATA_NAME,
            "version": METADATA_VERSION,
            "labels": list(self.labels),
            "features": self.features.to_dict(),
            "windows": self.windows.to_dict(),
            "normalisation": self.normalisation,
            **self.extra,
        }

    def make_extractor(self) -> FeatureExtractor:
        """The feature extractor this model was trained with."""
        mean = self.normalisation.get("mean")
        std = self.normalisation.get("std")
        return FeatureExtractor(
            self.features,
            None if mean is None else np.asarray(mean, np.float32),
            None if std is None else np.asarray(std, np.float32),
        )


def _check_types(cfg: FeatureConfig, reference: FeatureConfig) -> None:
    """Each field must have the type of the default (ints may stand for floats)."""
    for name in cfg.__dataclass_fields__:
        got, want = getattr(cfg, name), getattr(reference, name)
        ok = isinstance(got, type(want)) or (isinstance(want, float) and isinstance(got, int))
        if not ok or isinstance(got, bool):
            raise TypeError(f"feature config {name}={got!r} should be a {type(want).__name__}")


def check_compatible(meta: ModelMetadata, expected_rate: int | None = None) -> None:
    """Refuse a model the app cannot feed or label."""
    if meta.labels != LABELS:
        raise ModelError(f"model labels {list(meta.labels)} differ from the app's {list(LABELS)}")
    if expected_rate is not None and meta.features.sample_rate != expected_rate:
        raise ModelError(
            f"model expects {meta.features.sample_rate} Hz audio, the app provides {expected_rate} Hz"
        )
    if meta.windows.window_s <= 0 or meta.features.sample_rate <= 0:
        raise ModelError("model metadata has a non-positive window or sample rate")
    f = meta.features
    if min(f.n_fft, f.hop_length, f.n_mels) <= 0 or f.kind not in FEATURE_KINDS:
        raise ModelError(f"model metadata has an unusable feature config {f}")
    for w in (meta.windows, meta.windows.for_files()):
        if w.hop_s <= 0 or w.hop_samples(f.sample_rate) % f.hop_length:
            raise ModelError(
                f"model window hop {w.hop_s} s is not a positive whole number of "
                f"{f.hop_length}-sample frame hops"
            )
    if meta.features.fmax > meta.features.sample_rate / 2:
        raise ModelError("model metadata has fmax above Nyquist")
    n = meta.normalisation
    if meta.features.kind == "frame_vector" and ("mean" not in n or "std" not in n):
        raise ModelError("frame_vector model lacks its normalisation mean/std")


def _make_interpreter(content: bytes, num_threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on what is installed
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as exc:
            raise ModelError("no TFLite runtime installed: pip install ai-edge-litert") from exc
    try:
        return Interpreter(model_content=content, num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"the TFLite runtime rejected the model ({exc})") from exc


#: one interpreter starts at a time: :func:`_runtime_chatter_filtered` moves the process's fd 2, and two
#: threads doing so at once (the parallel analysis's workers) could leave stderr pointing at a temporary file
_RUNTIME_START = threading.Lock()
#: what the LiteRT runtime prints on stderr whenever an interpreter is made: news to nobody
_RUNTIME_CHATTER = (b"INFO: Created TensorFlow Lite XNNPACK delegate",)


@contextlib.contextmanager
def _runtime_chatter_filtered() -> Iterator[None]:
    """Hold file descriptor 2 in a temporary file while the runtime starts, then pass it on.

    The C++ runtime writes its INFO line straight to fd 2, ahead of the output
    of every ``serlive`` command.  Everything else written meanwhile (by any
    thread) is copied to stderr afterwards, in order, so no message is lost:
    it only arrives a few milliseconds later.
    """
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (a frozen GUI app on Windows, say)
        yield
        return
    with tempfile.TemporaryFile() as hold:
        os.dup2(hold.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not None:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            hold.seek(0)
            kept = [ln for ln in hold.read().splitlines(keepends=True) if not ln.startswith(_RUNTIME_CHATTER)]
            if kept:
                os.write(2, b"".join(kept))


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MB blocks: how a profile, a Dask worker and ``--resume``
    know the model file they were made with."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_model_file(path: str | Path | None) -> tuple[Path, bytes, ModelMetadata]:
    """``(resolved path, file content, checked metadata)`` of a model, or a :class:`ModelError`.

    The one reading of a model file: :class:`EmotionModel` builds its interpreter from the content,
    and the desktop app (:mod:`serlive.preload`) builds its window from the metadata before that,
    so a missing file or one the app cannot honour is refused in the same words either way.
    """
    p = resolve_model_path(path)
    try:
        content = p.read_bytes()
    except FileNotFoundError as exc:
        raise ModelError(f"{p}: model file not found") from exc
    except OSError as exc:
        raise ModelError(f"{p}: cannot read model ({exc.strerror})") from exc
    try:
        entries = read_tflite_metadata(content)
        if METADATA_NAME not in entries:
            raise ModelError("no serlive metadata in the model (not exported by serlive?)")
        meta = ModelMetadata.from_json(entries[METADATA_NAME])
        check_compatible(meta)
    except ModelError as exc:
        raise ModelError(f"{p}: {exc}") from exc
    return p, content, meta


#: windows per interpreter call for an encoder model (one with an ``encode`` signature).  A
#: window's output does not depend on its batch (``bench/bench_batch.py`` checks), and one at a
#: time was the cheapest per window on both machine kinds measured: on a 2-core AMD EPYC
#: (AVX-512 + VNNI) 12.5 ms a window against 15.9 ms in batches of 32 (its activations stay in
#: cache), and the interpreter's arena is 26 MB instead of 231 MB.
ENCODER_INVOKE_BATCH = 1


class EmotionModel:
    """A loaded, checked model: ``predict(batch_of_inputs) -> probabilities``.

    Not thread-safe (a TFLite interpreter is not); give each thread its own.
    ``invoke_batch``: at most this many windows per interpreter call (a larger batch is run in
    slices; the result is the same); None: the whole batch at once, or, for an encoder model,
    :data:`ENCODER_INVOKE_BATCH`.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        num_threads: int = 1,
        invoke_batch: int | None = None,
        profile: Profile | None = None,
        sha256: str | None = None,
    ) -> None:
        self.path, content, self.meta = read_model_file(path)
        #: sha256 of the model file (what a calibration profile records and is checked against): only
        #: made where a profile is in play, since hashing 12 MB costs tens of ms at every start; a
        #: caller that has just hashed the file (the app, to check a remembered profile) passes it
        if sha256 is None and profile is not None:
            sha256 = hashlib.sha256(content).hexdigest()
        self._sha256 = sha256
        try:
            with _RUNTIME_START, _runtime_chatter_filtered():
                self._interp = _make_interpreter(content, num_threads)
                self._interp.allocate_tensors()
        except ModelError as exc:
            raise ModelError(f"{self.path}: {exc}") from exc
        self.extractor = self.meta.make_extractor()
        n_frames = self.extractor.n_frames(self.meta.windows.window_samples(self.meta.features.sample_rate))
        expected = (n_frames, self.extractor.input_dim)
        signatures = self._interp.get_signature_list()
        self._encode: Any = None
        self._adapt: Any = None
        #: width of the pooled embedding ``encode`` gives (0: the model gives none)
        self.embedding_dim = 0
        if "encode" in signatures:
            inp, out = self._signature_io(signatures)
        else:
            inp = self._interp.get_input_details()[0]
            out = self._interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype, self._out_dtype = inp["dtype"], out["dtype"]
        self._in_q = inp["quantization"]
        self._out_q = out["quantization"]
        shape = tuple(int(s) for s in inp["shape"][1:3])
        if shape != expected:
            raise ModelError(
                f"{self.path}: input shape {tuple(inp['shape'])} does not match the metadata's "
                f"features {expected}"
            )
        if int(out["shape"][-1]) != len(self.meta.labels):
            raise ModelError(f"{self.path}: {out['shape'][-1]} outputs for {len(self.meta.labels)} labels")
        self.input_shape = tuple(int(s) for s in inp["shape"][1:])
        self._batch = 1
        if invoke_batch is None and self._encode is not None:
            invoke_batch = ENCODER_INVOKE_BATCH
        #: windows per interpreter call (None: any number)
        self.invoke_batch = None if invoke_batch is None else max(1, int(invoke_batch))
        #: how the ``adapt`` head wants the session's statistics; None: the model cannot adapt
        self.adaptation: AdaptationConfig | None = None
        self._read_adaptation(signatures)
        #: the user's calibration applied to every output (None: the general model's judgement)
        self.profile: Profile | None = None
        if profile is not None:
            self.use_profile(profile)

    def use_profile(self, profile: Profile) -> None:
        """Judge through ``profile``: its labels, its mapping of the embedding and the plain head.

        Why here: every path (files, threads, processes, the live engine, the GUI) asks the model for
        its probabilities and labels, so a profiled model answering with the profile's keeps profiles
        out of all of them.  No session adaptation under a profile: it is the adaptation to this voice.
        """
        from serlive.profiles.store import ProfileError

        if self._encode is None:
            raise ModelError(f"{self.path}: this model gives no embeddings, so a profile cannot apply to it")
        try:
            profile.check_model(self.sha256, self.meta.labels, self.path.name)
            profile.fitted  # noqa: B018  (its parameters must fit this model's embedding)
            probe = profile.apply(
                np.zeros((1, self.embedding_dim), np.float32),
                np.full((1, len(self.meta.labels)), 1.0 / len(self.meta.labels), np.float32),
            )
        except (ProfileError, ValueError) as exc:
            raise ModelError(str(exc)) from exc
        if probe.shape != (1, len(profile.labels)):
            raise ModelError(f"{profile.where}: its parameters do not fit this model's embedding")
        self.profile = profile
        self.adaptation = None

    @property
    def sha256(self) -> str:
        """sha256 of the model file (read again on first use when no profile was given at loading)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def _signature_io(self, signatures: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """An encoder model's ``encode`` signature: one input, outputs ``probabilities`` and ``embedding``."""
        self._encode = self._interp.get_signature_runner("encode")
        ins = self._encode.get_input_details()
        outs = self._encode.get_output_details()
        if len(ins) != 1 or not {"probabilities", "embedding"} <= set(outs):
            raise ModelError(
                f"{self.path}: signature 'encode' must take one input and give 'probabilities' and "
                f"'embedding' (it has {signatures['encode']})"
            )
        self._in_name = next(iter(ins))
        self.embedding_dim = int(outs["embedding"]["shape"][-1])
        return ins[self._in_name], outs["probabilities"]

    def _read_adaptation(self, signatures: dict[str, Any]) -> None:
        """Accept session adaptation only when the metadata and the file's signatures agree."""
        block = self.meta.extra.get("adaptation")
        has_adapt = "adapt" in signatures
        if block is None and not has_adapt:
            return
        if block is None or not has_adapt or self._encode is None:
            raise ModelError(
                f"{self.path}: the metadata's 'adaptation' block and the model's 'encode'/'adapt' "
                "signatures must come together"
            )
        try:
            self.adaptation = AdaptationConfig.from_dict(block)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.path}: session adaptation the app cannot honour ({exc})") from exc
        self._adapt = self._interp.get_signature_runner("adapt")
        want = {"embedding", "session_mean", "session_scale"}
        if (
            set(self._adapt.get_input_details()) != want
            or "probabilities" not in self._adapt.get_output_details()
        ):
            raise ModelError(
                f"{self.path}: signature 'adapt' must take {sorted(want)} and give 'probabilities'"
            )

    @property
    def labels(self) -> tuple[str, ...]:
        """Output labels in order: the profile's when one is in use, else the model file's."""
        return self.profile.labels if self.profile is not None else self.meta.labels

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interp.resize_tensor_input(self._in_index, (batch, *self.input_shape))
            self._interp.allocate_tensors()
            self._batch = batch

    def _check_inputs(self, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        x = np.asarray(inputs, dtype=np.float32)
        if x.ndim == len(self.input_shape):
            x = x[None]
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"input shape {x.shape[1:]} != model's {self.input_shape}")
        return x

    def _invoke(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """A single-signature model: quantise if it wants int8, run, dequantise."""
        self._resize(len(x))
        if self._in_dtype == np.int8:
            scale, zero = self._in_q
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        self._interp.set_tensor(self._in_index, x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out_index)
        if self._out_dtype == np.int8:
            scale, zero = self._out_q
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)

    def encode(self, inputs: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """``(probabilities, embedding)``: the plain head's output and, for an adaptable model, the
        pooled embedding the session statistics are made of (None for other models)."""
        if self._encode is None:
            return self.predict(inputs), None
        x = self._check_inputs(inputs)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, self.embedding_dim), np.float32)
        outs = [self._encode(**{self._in_name: part}) for part in self._slices(x)]
        probs = _normalised(np.concatenate([o["probabilities"] for o in outs]))
        emb = np.concatenate([np.asarray(o["embedding"], np.float32) for o in outs])
        if self.profile is not None:
            probs = _normalised(self.profile.apply(emb, probs))
        return probs, emb

    def _slices(self, x: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """``x`` cut into interpreter calls of at most :attr:`invoke_batch` windows."""
        n = self.invoke_batch
        if n is None or len(x) <= n:
            return [x]
        return [x[i : i + n] for i in range(0, len(x), n)]

    def adapt(
        self, embeddings: NDArray[np.float32], mean: NDArray[np.float32], scale: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """Probabilities of the session-adapted head for ``embeddings`` ``(batch, dim)``."""
        if self._adapt is None:
            raise ModelError(f"{self.path}: this model has no session adaptation")
        e = np.asarray(embeddings, np.float32).reshape(-1, self.embedding_dim)
        if len(e) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        out = self._adapt(
            embedding=e,
            session_mean=np.asarray(mean, np.float32).reshape(self.embedding_dim),
            session_scale=np.asarray(scale, np.float32).reshape(self.embedding_dim),
        )
        return _normalised(out["probabilities"])

    def predict(self, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Class probabilities ``(batch, n_labels)`` for model inputs ``(batch, *input_shape)``."""
        x = self._check_inputs(inputs)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self._encode is not None:
            return self.encode(x)[0]
        return _normalised(np.concatenate([self._invoke(part) for part in self._slices(x)]))


def _normalised(y: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows summing to 1 (int8 outputs do not quite)."""
    y = np.asarray(y, dtype=np.float32)
    total = y.sum(axis=1, keepdims=True)
    return y / np.where(total > 0, total, 1.0)
