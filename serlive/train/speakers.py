"""Which speakers go where: the one speaker split every trainer and the protocol use.

Why a module of its own: ``serlive train`` (the CNN), the teacher's
exclusions and the encoder model's validation speakers must read a speaker
list the same way (``ravdess:5`` is ``ravdess:05``; an unknown name is an
error, never a silent move of test speakers into training).  Kept apart from
the trainers so that none of them imports another for it.
"""

from __future__ import annotations

from serlive.train.corpora import TRAIN_ONLY_SPEAKERS, Utterance


def speakers_arg(text: str) -> list[str]:
    """``ravdess:17-20,tess:OAF`` → ``['ravdess:17', ..., 'ravdess:20', 'tess:OAF']``."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        corpus, _, spk = part.partition(":")
        if "-" in spk and all(s.isdigit() for s in spk.split("-", 1)):
            a, b = (int(s) for s in spk.split("-", 1))
            width = len(spk.split("-", 1)[0])
            out += [f"{corpus}:{i:0{width}d}" for i in range(a, b + 1)]
        else:
            out.append(part)
    return out


def speaker_key(speaker: str) -> str:
    """``ravdess:05`` and ``ravdess:5`` alike: numeric speaker ids compare by value."""
    corpus, _, spk = speaker.partition(":")
    return f"{corpus}:{int(spk)}" if spk.isdigit() else speaker


def split_by_speaker(
    utts: list[Utterance], val: list[str], test: list[str]
) -> tuple[list[int], list[int], list[int]]:
    """Indices of train / validation / test; a speaker is in exactly one."""
    # "ravdess:5" names the speaker the corpus calls "ravdess:05": numbers match by value
    by_value = {speaker_key(u.speaker): u.speaker for u in utts}
    val = [by_value.get(speaker_key(s), s) for s in val]
    test = [by_value.get(speaker_key(s), s) for s in test]
    if set(val) & set(test):
        raise ValueError(f"speakers in both validation and test: {sorted(set(val) & set(test))}")
    known = {u.speaker for u in utts}
    unknown = sorted((set(val) | set(test)) - known)
    if unknown:
        # a typo here would silently move the intended test speakers into training
        raise ValueError(f"validation/test speakers not in the data: {', '.join(unknown)}")
    many = sorted((set(val) | set(test)) & TRAIN_ONLY_SPEAKERS)
    if many:
        # one id for many people: held out, it would share voices with training
        raise ValueError(f"{', '.join(many)} stands for many speakers and can only be trained on")
    tr, va, te = [], [], []
    for i, u in enumerate(utts):
        (te if u.speaker in test else va if u.speaker in val else tr).append(i)
    return tr, va, te
