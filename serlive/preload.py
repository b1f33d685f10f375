"""The model loads while the window appears: its metadata at once, its interpreter on a thread.

Why: making the encoder's interpreter (and importing LiteRT and scipy.fft, which
only analysis needs) took a large share of the desktop app's start-up, all of
it before the window could be drawn.  The window itself needs only what the
metadata says (labels, feature and window settings, whether the model adapts),
which is read from the file in milliseconds without the runtime.  So the app
builds its window around a :class:`BackgroundModel`, shows it, and then starts
the load; whatever needs the interpreter (the file viewer's worker thread)
waits for it there, off the GUI thread, and a file given on the command line
fills in when the model is ready.

No Qt here (the core imports none): the app connects :meth:`BackgroundModel.start`'s
callback to the GUI thread itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serlive.adaptation import AdaptationConfig
from serlive.features import FeatureExtractor
from serlive.model import EmotionModel, ModelMetadata, file_sha256, read_model_file

if TYPE_CHECKING:
    from serlive.profiles.store import Profile


def read_model_metadata(path: str | Path | None) -> tuple[Path, ModelMetadata]:
    """``(resolved path, metadata)`` of a model file, checked as :class:`EmotionModel` checks it.

    Raises :class:`ModelError` with the same messages, so a missing file or one the
    app cannot honour is still reported before any window appears.
    """
    p, _, meta = read_model_file(path)
    return p, meta


def _warm_up() -> None:
    """Import what the first analysis needs, so neither the file viewer nor Start waits for it."""
    import scipy.fft  # noqa: F401  (features and the VAD import it on first use)

    from serlive.vad import default_detector

    default_detector()


class BackgroundModel:
    """Stands in for an :class:`EmotionModel` that is loading on a thread.

    ``path``, ``meta``, ``labels``, ``extractor`` and ``adaptation`` answer at once
    (from the metadata); any other attribute (``predict``, ``encode``, ...) waits
    for the load to finish and then comes from the loaded model, so code written
    for an :class:`EmotionModel` runs unchanged.  Waiting belongs on worker
    threads: the GUI thread only reads the metadata.
    """

    def __init__(self, path: str | Path | None = None, num_threads: int = 1) -> None:
        self.path, self.meta = read_model_metadata(path)
        self.extractor: FeatureExtractor = self.meta.make_extractor()
        self._num_threads = num_threads
        #: the calibration the loaded model will judge through: set by the app, checked against this
        #: file, before the load starts
        self.profile: Profile | None = None
        self._model: EmotionModel | None = None
        self._sha256: str | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Output labels in order (from the metadata, or the profile's)."""
        return self.profile.labels if self.profile is not None else self.meta.labels

    @property
    def adaptation(self) -> AdaptationConfig | None:
        """The loaded model's session adaptation; before that, what the metadata promises."""
        if self._model is not None:
            return self._model.adaptation
        if self.profile is not None:  # a profile is the adaptation to this voice (EmotionModel.use_profile)
            return None
        block = self.meta.extra.get("adaptation")
        try:
            return None if block is None else AdaptationConfig.from_dict(block)
        except (KeyError, TypeError, ValueError):  # the load will refuse the model and say why
            return None

    @property
    def sha256(self) -> str:
        """sha256 of the model file, made once: the app's check of a remembered profile and the load
        share it (the file was hashed twice at start-up, once on each thread)."""
        if self._model is not None:
            return self._model.sha256
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def loaded(self) -> bool:
        """True once the load has finished (or failed)."""
        return self._ready.is_set()

    def start(self, done: Callable[[BaseException | None], None] | None = None) -> None:
        """Load on a daemon thread; ``done(error or None)`` is called on that thread when it ends."""
        if self._thread is not None:
            return

        def load() -> None:
            try:
                self._model = EmotionModel(
                    self.path, num_threads=self._num_threads, profile=self.profile, sha256=self._sha256
                )
                _warm_up()
            except BaseException as exc:  # reported through done() and to every waiter
                self._error = exc
            finally:
                self._ready.set()
                if done is not None:
                    done(self._error)

        self._thread = threading.Thread(target=load, name="serlive-model-load", daemon=True)
        self._thread.start()

    def wait(self) -> EmotionModel:
        """The loaded model (starting the load if nobody did); raises the load's error."""
        if self._thread is None:
            self.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._model is not None
        return self._model

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes this class lacks: the interpreter's
        if name.startswith("__") or name in (
            "_model",
            "_error",
            "_ready",
            "_thread",
            "_num_threads",
            "profile",
        ):
            raise AttributeError(name)
        return getattr(self.wait(), name)
