"""Pooled Whisper-encoder embeddings of every window of every clip, cached per corpus.

Why a cache: the encoder is frozen, so its pooled output per window is a
pure function of the audio; computing it once (about 25 ms a window on two
cores) makes every head, every fold of the cross-corpus protocol and every
recipe comparison a matter of seconds instead of an hour each.

Windows are cut exactly as the app cuts them (:func:`serlive.windows.window_starts`
with the model's window and hop, short clips zero-padded), and each carries
the app's silence flag, so the protocol can score a clip the way
``serlive predict`` labels a file: the mean probability of its voiced windows.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import AudioLoadError, load_audio
from serlive.config import DEFAULT_WINDOWS, WHISPER_FEATURES, FeatureConfig, WindowConfig
from serlive.features import FeatureExtractor
from serlive.files.analysis import SegmentWindows
from serlive.train.augment import AugmentConfig, augment_channel, augment_voice
from serlive.train.corpora import Utterance
from serlive.vad import is_silent
from serlive.windows import window_starts

#: Bump when the extraction changes in a way the key cannot see.
EMBED_VERSION = 1


class CacheConfig:
    """What the embedding cache and the activation cache (:mod:`serlive.train.activations`) share.

    One hash and one pooling threshold for both, so a cache folder's name means
    the same in each and the two pool a window's voiced frames alike.
    """

    features: FeatureConfig

    def digest(self, over: dict[str, Any]) -> str:
        """The cache folder's name: a stable hash of the config's fields, ``over`` replacing some of them."""
        d = asdict(self) | over  # type: ignore[call-overload]  (subclasses are dataclasses)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def active_units(self) -> float:
        """The pooling threshold in Whisper's normalised units (40 dB = 1.0)."""
        return self.features.active_db / 40.0


@dataclass(frozen=True)
class EmbedConfig(CacheConfig):
    """Everything that determines the cached embeddings."""

    features: FeatureConfig = WHISPER_FEATURES
    windows: WindowConfig = DEFAULT_WINDOWS
    layers: tuple[int, ...] = (2, 3)
    #: 0 = the clean clip; n > 0 = augmented copy number n (its own seed).
    aug: int = 0
    seed: int = 1234

    def key(self) -> str:
        """Stable hash naming the cache folder.

        Only the window fields that decide which samples a window holds and
        whether it counts as silent enter the key: a new runtime-only field of
        :class:`WindowConfig` (the VAD's, the file hop) must not throw away an
        hour of embeddings.
        """
        w = self.windows
        return self.digest(
            {
                "version": EMBED_VERSION,
                "windows": {"window_s": w.window_s, "hop_s": w.hop_s, "silence_dbfs": w.silence_dbfs},
            }
        )


@dataclass
class CorpusEmbeddings:
    """Windows of one corpus: embedding, owning clip and silence flag."""

    paths: list[str]
    emb: NDArray[np.float16]  # (n_windows, dim)
    clip: NDArray[np.int32]  # index into paths
    silent: NDArray[np.bool_]


def clip_windows(
    y: NDArray[np.float32], ext: FeatureExtractor, cfg: EmbedConfig
) -> tuple[list[NDArray[np.float32]], list[bool]]:
    """Model inputs and silence flags of a clip's windows, cut as ``analyse_signal`` cuts them."""
    sr = cfg.features.sample_rate
    win, hop = cfg.windows.window_samples(sr), cfg.windows.hop_samples(sr)
    starts = window_starts(len(y), win, hop)
    if not starts:
        return [], []
    segment = SegmentWindows(y, starts, win, ext)
    xs, silent = [], []
    for s in starts:
        x, rms = segment.window(s)
        xs.append(x)
        silent.append(is_silent(rms, cfg.windows.silence_dbfs))
    return xs, silent


def _augment(y: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Voice then channel augmentation of a whole clip (room, microphone, noise, level)."""
    a = AugmentConfig()
    return augment_channel(augment_voice(y, rng, a).astype(np.float32), rng, a).astype(np.float32)


def readable_clips(utts: list[Utterance], rate: int, tag: str) -> Iterator[tuple[int, NDArray[np.float32]]]:
    """``(index, samples at rate)`` of every clip that loads; one "skipping" line for each that does not."""
    for i, u in enumerate(utts):
        try:
            yield i, load_audio(u.path, rate)
        except AudioLoadError as exc:
            print(f"{tag}: skipping {exc}", file=sys.stderr)


def _windows_of(utts: list[Utterance], cfg: EmbedConfig) -> Iterator[tuple[int, NDArray[np.float32], bool]]:
    ext = FeatureExtractor(cfg.features)
    for i, y in readable_clips(utts, cfg.features.sample_rate, "embed"):
        u = utts[i]
        if cfg.aug:
            digest = int(hashlib.sha1(f"{u.path}:{cfg.aug}:{cfg.seed}".encode()).hexdigest()[:8], 16)
            y = _augment(y, np.random.default_rng(digest))
        xs, silent = clip_windows(y, ext, cfg)
        for x, s in zip(xs, silent, strict=True):
            yield i, x, s


def _prefetched(items: Iterator[Any], depth: int = 256) -> Iterator[Any]:
    """Run ``items`` on a thread: decoding and features overlap the encoder (which frees the GIL)."""
    q: queue.Queue[Any] = queue.Queue(depth)
    done = object()

    def work() -> None:
        try:
            for item in items:
                q.put(item)
        finally:
            q.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not done:
        yield item


def run_batched(
    items: Iterator[tuple[int, NDArray[np.float32], bool]],
    batch: int,
    run: Callable[[NDArray[np.float32]], None],
    progress: Callable[[int], None],
) -> tuple[list[int], list[bool]]:
    """Feed ``(clip, window input, silent)`` items to ``run`` in batches (prefetched on a thread).

    Returns every window's clip and silent flag in order; ``progress(windows done)`` after each full
    batch.  The embedding cache and the activation cache both run their network this way.
    """
    clips: list[int] = []
    silents: list[bool] = []
    pending: list[tuple[int, NDArray[np.float32], bool]] = []

    def flush() -> None:
        run(np.stack([p[1] for p in pending]))
        clips.extend(p[0] for p in pending)
        silents.extend(p[2] for p in pending)
        pending.clear()

    for item in _prefetched(items):
        pending.append(item)
        if len(pending) == batch:
            flush()
            progress(len(clips))
    if pending:
        flush()
    return clips, silents


def default_embed_dir() -> Path:
    """``<serlive cache>/embed``."""
    from serlive.train.dataset import default_cache_dir

    return default_cache_dir() / "embed"


def embed_corpus(
    name: str, utts: list[Utterance], cfg: EmbedConfig, cache: Path | None = None, batch: int = 64
) -> CorpusEmbeddings:
    """Embeddings of every window of ``utts`` (one corpus), from the cache when it holds them."""
    cache = (cache or default_embed_dir()) / cfg.key()
    paths = [u.path for u in utts]
    digest = hashlib.sha1("\n".join(paths).encode()).hexdigest()[:12]
    target = cache / f"{name}-{digest}.npz"
    if target.is_file():
        with np.load(target) as z:
            return CorpusEmbeddings(paths, z["emb"], z["clip"], z["silent"])
    import tensorflow as tf

    from serlive.train.whisper import build_pooled_encoder, read_ct2, whisper_dir

    weights = read_ct2(whisper_dir() / "model.bin")
    n_frames = FeatureExtractor(cfg.features).n_frames(cfg.windows.window_samples(cfg.features.sample_rate))
    encoder = tf.function(build_pooled_encoder(weights, cfg.layers, n_frames, cfg.active_units))
    embs: list[NDArray[np.float16]] = []
    t0 = time.monotonic()

    def progress(done: int) -> None:
        if done % (batch * 20) == 0:
            rate = done / (time.monotonic() - t0)
            print(f"embed {name} aug{cfg.aug}: {done} windows, {rate:.1f}/s", file=sys.stderr)

    clips, silents = run_batched(
        _windows_of(utts, cfg), batch, lambda x: embs.append(encoder(x).numpy().astype(np.float16)), progress
    )
    out = CorpusEmbeddings(
        paths, np.concatenate(embs), np.asarray(clips, np.int32), np.asarray(silents, bool)
    )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, emb=out.emb, clip=out.clip, silent=out.silent)
    tmp.replace(target)
    took = time.monotonic() - t0
    print(f"embed {name} aug{cfg.aug}: {len(clips)} windows in {took:.0f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.embed --data ROOTS [--aug N] [corpus ...]``: fill the cache."""

    from serlive.train.corpora import command_parser, default_data_root, load_all

    ap = command_parser(main.__doc__)
    ap.add_argument("corpora", nargs="*")
    ap.add_argument("--aug", type=int, default=0)
    ap.add_argument("--layers", default="2,3", help="encoder blocks to pool, counted from 1")
    args = ap.parse_args(argv)
    root = args.data or default_data_root()
    utts = load_all(root, args.corpora or None)
    cfg = EmbedConfig(aug=args.aug, layers=tuple(int(x) for x in args.layers.split(",")))
    for name in dict.fromkeys(u.corpus for u in utts):
        embed_corpus(name, [u for u in utts if u.corpus == name], cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
