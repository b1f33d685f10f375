"""From utterances to cached model inputs, with augmented variants.

Each utterance gives ``1 + n_aug`` variants: variant 0 is the clean clip
(silence-trimmed, centred in its window), the others pass through
:mod:`serlive.train.augment` with a random placement in the window (the time
shift).  Features come from :class:`serlive.features.FeatureExtractor`, the
same code the app runs.  Results are cached per corpus under a key of every
setting that affects them, so a rerun of ``serlive train`` skips this step.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import load_audio
from serlive.config import FeatureConfig
from serlive.features import FeatureExtractor, frame_rms_dbfs
from serlive.train.augment import AugmentConfig, augment_channel, augment_voice
from serlive.train.corpora import Utterance

#: Bump when feature or augmentation code changes in a way the key cannot see.
CACHE_VERSION = 4


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that determines the cached arrays."""

    features: FeatureConfig
    window_s: float
    n_aug: int = 4
    trim_db: float = 40.0  # 0 disables silence trimming
    seed: int = 1234
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def key(self) -> str:
        """Stable hash of the config, naming its cache folder."""
        d = asdict(self)
        d["version"] = CACHE_VERSION
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def trim_silence(y: NDArray[np.float32], cfg: FeatureConfig, top_db: float) -> NDArray[np.float32]:
    """Drop leading and trailing frames more than ``top_db`` below the loudest frame."""
    if top_db <= 0:
        return y
    db = frame_rms_dbfs(y, cfg)
    if len(db) == 0:
        return y
    keep = np.flatnonzero(db >= db.max() - top_db)
    start = keep[0] * cfg.hop_length
    end = keep[-1] * cfg.hop_length + cfg.n_fft
    return y[start:end]


def place(y: NDArray[np.float32], length: int, rng: np.random.Generator | None) -> NDArray[np.float32]:
    """Fit ``y`` into ``length`` samples: crop or zero-pad, centred, or at random with ``rng``."""
    n = len(y)
    if n >= length:
        start = (n - length) // 2 if rng is None else int(rng.integers(0, n - length + 1))
        return y[start : start + length].astype(np.float32, copy=True)
    out = np.zeros(length, dtype=np.float32)
    off = (length - n) // 2 if rng is None else int(rng.integers(0, length - n + 1))
    out[off : off + n] = y
    return out


def utterance_variants(path: str, cfg: DatasetConfig, partner: str | None = None) -> NDArray[np.float16]:
    """All variants' model inputs for one file: ``(1 + n_aug, frames, dims)`` float16.

    Each augmented variant takes one of three shapes of speech in its window,
    so that how much of the window holds speech says nothing about the
    emotion (a model trained only on whole utterances padded with silence
    learned "short = fearful" and failed on a corpus of single words):

    * the whole trimmed utterance at a random place (the classic time shift);
    * the utterance followed by ``partner`` (another clip of the same speaker
      and emotion) after a short pause, cropped at random: a window filled
      with continuous speech, as the live app sees it;
    * a random 0.4-1.2 s excerpt, as a single word or a clipped phrase.
    """
    fcfg = cfg.features
    sr = fcfg.sample_rate
    ext = FeatureExtractor(fcfg)
    y = trim_silence(load_audio(path, sr), fcfg, cfg.trim_db)
    other = trim_silence(load_audio(partner, sr), fcfg, cfg.trim_db) if partner else None
    length = round(cfg.window_s * sr)
    seed = zlib.crc32(Path(path).name.encode()) ^ cfg.seed
    rng = np.random.default_rng(seed)
    outs = [ext(place(y, length, None))]
    for _ in range(cfg.n_aug):
        r = rng.random()
        if other is not None and r < 0.3:
            gap = np.zeros(int(rng.uniform(0.05, 0.3) * sr), dtype=np.float32)
            seg = np.concatenate([y, gap, other] if rng.random() < 0.5 else [other, gap, y])
        elif r < 0.55 and len(y) > int(0.6 * sr):
            n = min(len(y), int(rng.uniform(0.4, 1.2) * sr))
            start = int(rng.integers(0, len(y) - n + 1))
            seg = y[start : start + n]
        else:
            seg = y
        v = augment_voice(seg, rng, cfg.augment)
        w = augment_channel(place(v, length, rng), rng, cfg.augment)
        outs.append(ext(w))
    return np.stack(outs).astype(np.float16)


def partners(utts: list[Utterance], seed: int) -> list[str | None]:
    """For each clip, another clip of the same speaker and emotion (None if it has none)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(utts):
        groups.setdefault((u.speaker, u.emotion), []).append(i)
    rng = np.random.default_rng(seed)
    out: list[str | None] = [None] * len(utts)
    for members in groups.values():
        if len(members) < 2:
            continue
        order = rng.permutation(members)
        for a, b in zip(order, np.roll(order, 1), strict=True):
            out[int(a)] = utts[int(b)].path
    return out


def _work(args: tuple[str, DatasetConfig, str | None]) -> NDArray[np.float16]:
    return utterance_variants(*args)


def default_cache_dir() -> Path:
    """``$SERLIVE_CACHE`` or ``~/.cache/serlive``: outside the repository."""
    import os

    return Path(os.environ.get("SERLIVE_CACHE", Path.home() / ".cache" / "serlive"))


def build(
    utts: list[Utterance],
    cfg: DatasetConfig,
    cache_dir: Path | None = None,
    workers: int = 2,
    log=print,
) -> NDArray[np.float16]:
    """Model inputs for ``utts``: ``(N, 1 + n_aug, frames, dims)``, cached per corpus."""
    cache = (cache_dir or default_cache_dir()) / "features" / cfg.key()
    cache.mkdir(parents=True, exist_ok=True)
    by_corpus: dict[str, list[int]] = {}
    for i, u in enumerate(utts):
        by_corpus.setdefault(u.corpus, []).append(i)
    result: NDArray[np.float16] | None = None
    for corpus, idx in by_corpus.items():
        paths = [utts[i].path for i in idx]
        mates = partners([utts[i] for i in idx], cfg.seed)
        digest = _files_digest(paths)
        f = cache / f"{corpus}-{digest}.npy"
        if f.exists():
            arr = np.load(f)
            log(f"features: {corpus}: {len(paths)} clips from cache {f}")
        else:
            arr = _compute(paths, mates, cfg, workers, corpus, log)
            tmp = f.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            tmp.replace(f)
        if result is None:
            result = np.zeros((len(utts), *arr.shape[1:]), dtype=np.float16)
        result[idx] = arr
    assert result is not None, "no utterances"
    return result


def _files_digest(paths: list[str]) -> str:
    """Names, sizes and modification times: a changed file invalidates the cache."""
    h = hashlib.sha1()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).name}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:12]


def _compute(
    paths: list[str], mates: list[str | None], cfg: DatasetConfig, workers: int, corpus: str, log
) -> NDArray[np.float16]:
    t0 = time.time()
    jobs = [(p, cfg, m) for p, m in zip(paths, mates, strict=True)]
    out: list[NDArray[np.float16]] = []
    # spawn, not fork: the parent may already hold TensorFlow's threads; an
    # executor (unlike mp.Pool) raises instead of hanging if a worker dies
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=ctx) as pool:
        for i, arr in enumerate(pool.map(_work, jobs, chunksize=8), 1):
            out.append(arr)
            if i % 200 == 0 or i == len(jobs):
                rate = i / (time.time() - t0)
                sys.stderr.write(f"\rfeatures: {corpus}: {i}/{len(jobs)} clips ({rate:.0f}/s)")
                sys.stderr.flush()
    sys.stderr.write("\n")
    log(f"features: {corpus}: {len(paths)} clips in {time.time() - t0:.0f} s")
    return np.stack(out)
