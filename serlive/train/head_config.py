"""The recipe for the classifier on top of the frozen encoder (the protocol's unit of comparison).

Why a module of its own: the protocol compares these recipes and the shipped
recipe (:mod:`serlive.train.recipe`) names one of them, while the protocol
reads the recipe's corpora; each used to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadConfig:
    """A recipe for the classifier on top of the frozen encoder."""

    #: which pooled blocks feed the head (subset of the cached ones)
    layers: tuple[int, ...] = (3,)
    #: hidden units of the MLP head; 0 = a linear (logistic) head
    hidden: int = 256
    dropout: float = 0.3
    epochs: int = 40
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: augmented copies of the training audio to add (0 = clean only)
    n_aug: int = 0
    #: standardise every speaker's embeddings with that speaker's own voiced windows (what
    #: session adaptation does for a live user; test speakers use their unlabelled windows)
    speaker_norm: bool = False
    #: seconds of each speaker's audio (random whole clips) the statistics come from, as a live
    #: session has heard only so much; 0 = all of the speaker's audio
    session_s: float = 0.0
    #: divide by the speaker's spread too (False: subtract the speaker's mean only)
    norm_scale: bool = True
    #: training speakers' statistics from all their audio (``session_s`` then applies to test speakers only)
    train_full_stats: bool = False
    #: women's and men's windows carry the same total weight (see :func:`window_weights`)
    balance_gender: bool = False
    #: with ``speaker_norm``: weight of a plain head's probabilities averaged with the normalised
    #: head's (what the app would show with both heads running; 0 = the normalised head alone)
    blend: float = 0.0
    #: copies of every training speaker's windows moved onto another corpus's speaker (their mean
    #: swapped, see :func:`mean_swapped`); plain heads only, speaker-normalised ones have no mean to swap
    mean_swap: int = 0
    #: heads (seeds ``seed``, ``seed + 1``, ...) whose probabilities are averaged
    n_heads: int = 1
    #: strength of the gradient reversal from a corpus classifier on the hidden layer (domain-
    #: adversarial training, see :func:`_fit_one`); 0 = off.  Needs ``hidden`` > 0
    adversarial: float = 0.0
    seed: int = 7
