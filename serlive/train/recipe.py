"""The shipped recipe: which blocks, which head, which adaptation, which file hop.

Why a module of its own: the encoder model's export, the teacher that
distils it and the fine-tune all start from the same recipe, and each used to
import it from the other (a circle through ``encoder_model``, ``fit`` and
``teacher``).  Here it is a handful of constants that import nothing of theirs.
"""

from __future__ import annotations

from serlive.adaptation import AdaptationConfig
from serlive.train.head_config import HeadConfig

#: Pooled encoder blocks the shipped recipe reads (block 3 of 6: the protocol's pick).
ENCODER_LAYERS = 3

#: The shipped head recipe: three heads averaged (runs/RULE-ensemble.txt; 3 is the only count tried).
#: ``--head`` fields are applied on top of it.
SHIPPED_HEAD = HeadConfig(n_heads=3)

#: The shipped session adaptation (statistics, how much speech they need, and the plain head's share
#: once adapted): the protocol's pick (runs/RULE-adapt.txt, then runs/RULE-blend.txt: 0.5 is the only
#: blend weight tried, so it is not tuned to the test sets)
ADAPTATION = AdaptationConfig(statistics="mean", min_speech_s=20.0, blend=0.5)

#: The file path's hop for an encoder model: 3 s windows every 2 s keep file analysis above
#: 100x real time on one thread (bench/bench_pipeline.py); the live view keeps its 0.5 s.
FILE_HOP_S = 2.0

#: The corpora the shipped encoder model was trained on and its protocol table measured with: the
#: default of ``encoder_model``, ``protocol`` and ``teacher``, so their commands reproduce those files and
#: figures on a data root that also holds a newer corpus (the Korean emotiontts sample, added
#: 2026-12-02 and used by the fine-tune, enters them only through ``--corpora``).
SHIPPED_CORPORA = ("ravdess", "tess", "turevdb", "nemo", "ased", "esd", "emospeech")


def shipped_corpora(data_roots: str) -> list[str]:
    """Those of :data:`SHIPPED_CORPORA` found under ``data_roots`` (a test tree may hold only some)."""
    from serlive.train.corpora import discover

    found = discover(data_roots)
    return [c for c in SHIPPED_CORPORA if c in found]
