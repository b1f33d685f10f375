"""The frozen part of the encoder run once: block outputs per window, cached in fp16.

Why: fine-tuning the top encoder block on two CPU cores is affordable only
if the conv stem and the frozen blocks below it are not recomputed every
epoch.  Their output is a pure function of the audio, so it is computed once
per window and kept (149 positions x 512 values, fp16: about 150 KB a
window), together with the voiced-position mask the model pools over.  A
fine-tuning epoch then runs one block, the pooling and the head.

One window per clip, centred on the clip (on the frame grid; a clip shorter
than a window is zero-padded at the end, as the app pads it).  Centred,
because acted clips put their speech in the middle and the ends are often
silence; one, because it keeps an epoch of every corpus within minutes.

The cache is keyed like the embedding cache (:class:`ActivationConfig.key`)
and stored per corpus as plain ``.npy`` files, so a training run can map
them instead of reading 3 GB.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.config import DEFAULT_WINDOWS, WHISPER_FEATURES, FeatureConfig, WindowConfig
from serlive.features import FeatureExtractor
from serlive.files.analysis import SegmentWindows
from serlive.train.corpora import Utterance
from serlive.train.embed import CacheConfig, readable_clips, run_batched
from serlive.vad import is_silent

#: Bump when the extraction changes in a way the key cannot see.
ACTIVATION_VERSION = 1


@dataclass(frozen=True)
class ActivationConfig(CacheConfig):
    """Everything that determines the cached activations."""

    features: FeatureConfig = WHISPER_FEATURES
    windows: WindowConfig = DEFAULT_WINDOWS
    #: blocks run before the cache (the stem always is): block ``frozen_blocks + 1`` is the first trained
    frozen_blocks: int = 2

    def key(self) -> str:
        """Stable hash naming the cache folder (only the window fields that change a window's samples)."""
        w = self.windows
        return self.digest(
            {
                "version": ACTIVATION_VERSION,
                "windows": {"window_s": w.window_s, "silence_dbfs": w.silence_dbfs},
                "placement": "centre",
            }
        )


@dataclass
class CorpusActivations:
    """One centred window per clip of a corpus: hidden state, voiced mask, silence flag."""

    paths: list[str]
    states: NDArray[np.float16]  # (n_windows, positions, 512)
    mask: NDArray[np.uint8]  # (n_windows, positions): 1 = the position holds sound
    clip: NDArray[np.int32]  # index into paths
    silent: NDArray[np.bool_]


def centred_start(n_samples: int, window: int, hop_length: int) -> int:
    """Start of the window centred on a clip, on the feature frame grid (0 for a short clip)."""
    if n_samples <= window:
        return 0
    return ((n_samples - window) // 2 // hop_length) * hop_length


def centred_window(
    y: NDArray[np.float32], ext: FeatureExtractor, cfg: ActivationConfig
) -> tuple[NDArray[np.float32], bool] | None:
    """The model input of a clip's centred window and whether the app would call it silent."""
    if not len(y):
        return None
    win = cfg.windows.window_samples(cfg.features.sample_rate)
    start = centred_start(len(y), win, cfg.features.hop_length)
    x, rms = SegmentWindows(y, [start], win, ext).window(start)
    return x, is_silent(rms, cfg.windows.silence_dbfs)


def build_frozen_part(weights: dict, cfg: ActivationConfig, n_mel_frames: int):
    """Keras: mel ``(batch, frames, 80)`` → (state after block ``frozen_blocks``, voiced mask)."""
    import keras

    from serlive.train.whisper import N_MELS, encoder_layers, voiced_frame_mask

    mel = keras.Input(shape=(n_mel_frames, N_MELS), name="whisper_logmel")
    states = encoder_layers(mel, weights, cfg.frozen_blocks)
    return keras.Model(mel, [states[-1], voiced_frame_mask(mel, cfg.active_units)], name="frozen_part")


def default_activation_dir() -> Path:
    """``<serlive cache>/activations``."""
    from serlive.train.dataset import default_cache_dir

    return default_cache_dir() / "activations"


def _files(cache: Path, name: str, paths: list[str]) -> dict[str, Path]:
    digest = hashlib.sha1("\n".join(paths).encode()).hexdigest()[:12]
    stem = f"{name}-{digest}"
    return {k: cache / f"{stem}.{k}.npy" for k in ("states", "mask", "clip", "silent")}


def activate_corpus(
    name: str,
    utts: list[Utterance],
    cfg: ActivationConfig,
    cache: Path | None = None,
    batch: int = 32,
    mmap: bool = True,
    frozen=None,
) -> CorpusActivations:
    """The cached activations of ``utts`` (one corpus), computed the first time.

    ``frozen`` is the model of :func:`build_frozen_part` (built from the
    Whisper weights when not given; tests pass a tiny stand-in).  The states
    file is written last, so a run killed mid-way leaves no half cache that
    looks whole.
    """
    cache = (cache or default_activation_dir()) / cfg.key()
    paths = [u.path for u in utts]
    files = _files(cache, name, paths)
    if all(f.is_file() for f in files.values()):
        load = {k: np.load(f, mmap_mode="r" if mmap and k == "states" else None) for k, f in files.items()}
        return CorpusActivations(paths, load["states"], load["mask"], load["clip"], load["silent"])
    ext = FeatureExtractor(cfg.features)
    if frozen is None:
        import tensorflow as tf

        from serlive.train.whisper import read_ct2, whisper_dir

        weights = read_ct2(whisper_dir() / "model.bin")
        n_frames = ext.n_frames(cfg.windows.window_samples(cfg.features.sample_rate))
        frozen = tf.function(build_frozen_part(weights, cfg, n_frames))

    def windows():
        for i, y in readable_clips(utts, cfg.features.sample_rate, "activations"):
            got = centred_window(y, ext, cfg)
            if got is not None:
                yield i, *got

    states: list[NDArray[np.float16]] = []
    masks: list[NDArray[np.uint8]] = []
    t0 = time.monotonic()

    def run(x: NDArray[np.float32]) -> None:
        h, m = frozen(x)
        states.append(np.asarray(h, np.float16))
        masks.append(np.asarray(m, np.uint8))

    def progress(done: int) -> None:
        if done % (batch * 40) == 0:
            rate = done / (time.monotonic() - t0)
            print(f"activations {name}: {done}/{len(utts)} windows, {rate:.1f}/s", file=sys.stderr)

    clips, silents = run_batched(windows(), batch, run, progress)
    if not clips:
        raise ValueError(f"no readable clip in corpus {name!r}")
    out = {
        "mask": np.concatenate(masks),
        "clip": np.asarray(clips, np.int32),
        "silent": np.asarray(silents, bool),
        "states": np.concatenate(states),
    }
    cache.mkdir(parents=True, exist_ok=True)
    for key in ("mask", "clip", "silent", "states"):  # states last: its presence means complete
        tmp = files[key].with_suffix(".tmp.npy")
        np.save(tmp, out[key])
        tmp.replace(files[key])
    took = time.monotonic() - t0
    print(f"activations {name}: {len(clips)} windows in {took:.0f} s", file=sys.stderr)
    return CorpusActivations(paths, out["states"], out["mask"], out["clip"], out["silent"])


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.activations --data ROOTS [corpus ...]``: fill the activation cache."""

    from serlive.train.corpora import command_parser, default_data_root, load_all

    ap = command_parser(main.__doc__)
    ap.add_argument("corpora", nargs="*")
    ap.add_argument("--frozen-blocks", type=int, default=2)
    args = ap.parse_args(argv)
    utts = load_all(args.data or default_data_root(), args.corpora or None)
    cfg = ActivationConfig(frozen_blocks=args.frozen_blocks)
    for name in dict.fromkeys(u.corpus for u in utts):
        activate_corpus(name, [u for u in utts if u.corpus == name], cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
