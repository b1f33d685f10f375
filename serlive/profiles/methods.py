"""Fitting a calibration profile: a few labelled clips of a user adjust the general model.

Two kinds of profile:

* **calibration**: the profile's labels are some of the model's; the plain
  model's probabilities are kept as the starting point and a small correction,
  fitted to the user's clips, is added to their logarithm;
* **own labels**: any names; a new small head over the embedding.

The candidate methods (docs/calibration.md has the study that chose among them):

``bias``
    ``log p + b``: one number per label (a prior shift; Gaussian prior, sd 2 nats).
``prototypes``
    ``log p + a * cos(u, c_k)``: ``u`` is the embedding centred on the
    enrolment's mean (the mean of its label means), scaled per dimension by the
    enrolment's spread and put on the unit sphere; ``c_k`` is label ``k``'s mean
    direction.  The weight ``a`` is fitted on leave-one-out cosines (a clip is
    never compared with a prototype it is part of); prior 5, sd 5.
``prototypes+bias``
    both.
``head``
    ``log p + b + W u``: a linear correction on ``u``, L2-regularised towards no
    correction (``lambda`` = 1): the general head, moved only as far as the
    clips ask.  ``W`` lives in the enrolment's leading 32 principal directions
    (all of them up to 32 clips), which keeps the fit small.

Own labels use the same pieces without ``log p``.  :func:`fit` chooses by
cross-validation on the enrolment itself and keeps the plain model ("none")
when no candidate beats it there (:data:`GUARD`).

Pure numpy: no scipy (the executable leaves scipy.optimize out), no Qt, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

KINDS = ("calibration", "own")
#: every method :class:`Fitted` can apply
METHODS = ("none", "bias", "prototypes", "prototypes+bias", "head", "head+prototypes")
#: the candidates :func:`fit` tries, per kind, simplest first (ties go to the earlier one)
CANDIDATES = {
    # the study's choice (docs/calibration.md): prototypes+bias, by the rule written before the runs;
    # ("bias", "prototypes+bias", "head") chosen per user was 0.06 points better at k = 2: a tie
    "calibration": ("prototypes+bias",),
    "own": ("prototypes+bias", "head"),
}
#: how a profile must beat the plain model in its own cross-validation to be kept (:meth:`CrossValidation
#: .choose`); ``likelier`` ships, by the third rule written before its run (docs/calibration.md)
GUARDS = ("clear", "better", "likelier")
GUARD = "likelier"
#: priors of the fit (fixed before the study; docs/calibration.md)
BIAS_SD = 2.0
PROTO_WEIGHT = 5.0
PROTO_SD = 5.0
HEAD_L2 = 1.0
#: the head's correction lives in the enrolment's leading directions (all of them up to this many clips)
HEAD_RANK = 32
#: fits with up to this many parameters use Newton's method: every fit a profile of at most
#: :data:`MAX_LABELS` labels needs (the head: (HEAD_RANK + 1) per label), numpy only, so the
#: standalone executable (which leaves scipy.optimize out) fits profiles as the CLI does
NEWTON_MAX = 1200
#: most labels a profile may have (a larger fit would pass NEWTON_MAX)
MAX_LABELS = 16
#: floor of a probability before its log is taken
_EPS = 1e-6
_CALM, _NEUTRAL = "calm", "neutral"


@dataclass(frozen=True)
class Enrolment:
    """The user's labelled clips, one row per clip as ``serlive predict`` sees a file."""

    embeddings: NDArray[np.float32]  # (n, D) the file's mean of its voiced windows' pooled embeddings
    plain: NDArray[np.float32]  # (n, C) the file's plain probabilities over the model's labels
    labels: NDArray[np.int64]  # (n,) index into names
    names: tuple[str, ...]  # the profile's labels
    model_labels: tuple[str, ...]  # the model's labels
    groups: NDArray[np.int64] | None = None  # optional speaker or recording ids


# ---------------------------------------------------------------------------------------------
# pieces


def label_map(names: tuple[str, ...], model_labels: tuple[str, ...]) -> NDArray[np.float32]:
    """``(C, K)`` matrix taking the model's probabilities onto a calibration profile's labels.

    Each name takes its own model label; calm counts as neutral when only
    neutral is a name (and neutral as calm when only calm is), as ``--labels``
    does; other model labels are dropped (the rest renormalised).
    """
    missing = [n for n in names if n not in model_labels]
    if missing:
        raise ValueError(f"labels {missing} are not the model's ({', '.join(model_labels)})")
    m = np.zeros((len(model_labels), len(names)), np.float32)
    for k, n in enumerate(names):
        m[model_labels.index(n), k] = 1.0
    for a, b in ((_CALM, _NEUTRAL), (_NEUTRAL, _CALM)):
        if b in names and a not in names and a in model_labels:
            m[model_labels.index(a), names.index(b)] = 1.0
    return m


def base_logits(plain: NDArray[np.floating], fold: NDArray[np.float32]) -> NDArray[np.float64]:
    """``log`` of the plain probabilities on the profile's labels (renormalised, floored)."""
    p = np.asarray(plain, np.float64).reshape(-1, fold.shape[0]) @ fold
    p = np.maximum(p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12), _EPS)
    return np.log(p)


def centring(x: NDArray[np.floating], y: NDArray[np.int64], k: int) -> tuple[NDArray, NDArray]:
    """Mean (of the label means, so an uneven enrolment does not lean) and per-dimension scale.

    The scale is each dimension's spread around that mean, half shrunk to the
    median spread: a few clips cannot estimate 1024 spreads alone.
    """
    means = np.stack([x[y == c].mean(axis=0) for c in range(k) if np.any(y == c)])
    mu = means.mean(axis=0)
    var = ((x - mu) ** 2).mean(axis=0)
    var = 0.5 * var + 0.5 * np.median(var)
    return mu.astype(np.float32), np.sqrt(np.maximum(var, 1e-12)).astype(np.float32)


def directions(x: NDArray[np.floating], mu: NDArray, scale: NDArray) -> NDArray[np.float64]:
    """Centred, scaled embeddings on the unit sphere."""
    u = (np.asarray(x, np.float64).reshape(-1, mu.shape[0]) - mu) / scale
    return u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)


def prototypes(u: NDArray[np.float64], y: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """``(K, D)`` unit mean direction per label (zero row for a label without clips)."""
    c = np.zeros((k, u.shape[1]))
    np.add.at(c, y, u)
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def loo_cosines(u: NDArray[np.float64], y: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """``(n, K)`` cosine of each clip to each label's prototype made without that clip (NaN: none left)."""
    sums = np.zeros((k, u.shape[1]))
    np.add.at(sums, y, u)
    counts = np.bincount(y, minlength=k)
    out = np.empty((len(u), k))
    for i in range(len(u)):
        s = sums.copy()
        s[y[i]] -= u[i]
        n = counts.copy()
        n[y[i]] -= 1
        norm = np.linalg.norm(s, axis=1)
        cos = (s @ u[i]) / np.maximum(norm, 1e-12)
        cos[(n == 0) | (norm < 1e-9)] = np.nan
        out[i] = cos
    return out


def _impute(s: NDArray[np.float64]) -> NDArray[np.float64]:
    """A label with no prototype gets the row's mean cosine (neither pulled nor pushed)."""
    s = s.copy()
    bad = np.isnan(s)
    if bad.any():
        fill = np.nanmean(np.where(bad.all(axis=1, keepdims=True), 0.0, s), axis=1)
        s[bad] = np.broadcast_to(fill[:, None], s.shape)[bad]
        s[np.isnan(s)] = 0.0
    return s


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _class_weights(y: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """Every label present weighs the same in the fit, whatever its clip count."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    present = counts > 0
    return len(y) / (present.sum() * counts[y])


class _Logits(NamedTuple):
    """Logits ``z0 + feats @ theta`` over the ``present`` labels; clip weights ``w``; prior ``prec``."""

    z0: NDArray[np.float64]
    feats: NDArray[np.float64]  # (clips, labels, parameters)
    w: NDArray[np.float64]
    present: NDArray[np.bool_]
    prec: NDArray[np.float64]  # the prior's Hessian


def _newton(lg: _Logits, theta: NDArray[np.float64], objective: Any) -> NDArray[np.float64]:
    """Minimise ``objective`` over ``theta`` by Newton's method with step halving."""
    z0, feats, w, present, prec = lg
    f = feats[:, present, :]
    loss, grad = objective(theta)
    for _ in range(50):
        z = np.where(present, z0 + feats @ theta, -1e9)
        p = _softmax(z)[:, present]
        fp = np.einsum("ikp,ik->ip", f, p)  # sum_k p_k F_k
        flat = f.reshape(-1, f.shape[2])
        hess = (flat * (w[:, None] * p).reshape(-1, 1)).T @ flat - (fp * w[:, None]).T @ fp
        hess += prec
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4:
            new_loss, new_grad = objective(theta - t * step)
            if new_loss <= loss + 1e-12:
                break
            t /= 2
        theta = theta - t * step
        done = abs(loss - new_loss) < 1e-9 * max(1.0, abs(loss))
        loss, grad = new_loss, new_grad
        if done or np.max(np.abs(t * step)) < 1e-7:
            break
    return theta


def _fit_terms(
    z0: NDArray[np.float64],
    y: NDArray[np.int64],
    k: int,
    s: NDArray[np.float64] | None,
    g: NDArray[np.float64] | None,
    use_bias: bool,
) -> tuple[NDArray, float, NDArray | None]:
    """MAP fit of ``z0 + b + a * s + g @ A.T`` to labels ``y`` (cross-entropy, weighted per label).

    ``g`` is the clips' directions in their own leading (at most
    :data:`HEAD_RANK`) principal directions: a ridge-penalised linear map lies
    in the clips' span, so this is the full ridge fit up to that many clips, and
    a small fit (not ``D``-sized) beyond.  Labels absent from ``y`` are left out
    of the softmax.
    """
    n = len(y)
    present = np.bincount(y, minlength=k) > 0
    w = _class_weights(y, k)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    nb = k if use_bias else 0
    na = 1 if s is not None else 0
    nA = k * g.shape[1] if g is not None else 0

    def unpack(theta: NDArray) -> tuple[NDArray, float, NDArray | None]:
        b = theta[:nb] if use_bias else np.zeros(k)
        a = float(theta[nb]) if na else 0.0
        amat = theta[nb + na :].reshape(k, -1) if nA else None
        return b, a, amat

    def objective(theta: NDArray) -> tuple[float, NDArray]:
        b, a, amat = unpack(theta)
        z = z0 + b
        if s is not None:
            z = z + a * s
        if amat is not None:
            z = z + g @ amat.T
        z = np.where(present, z, -1e9)
        p = _softmax(z)
        loss = -np.sum(w * np.log(np.maximum(p[np.arange(n), y], 1e-300)))
        r = w[:, None] * (p - onehot)
        grads = []
        if use_bias:
            loss += 0.5 * np.sum(b**2) / BIAS_SD**2
            grads.append(r.sum(axis=0) + b / BIAS_SD**2)
        if na:
            loss += 0.5 * (a - PROTO_WEIGHT) ** 2 / PROTO_SD**2
            grads.append(np.array([np.sum(r * s) + (a - PROTO_WEIGHT) / PROTO_SD**2]))
        if amat is not None:
            loss += 0.5 * HEAD_L2 * np.sum(amat**2)
            grads.append((r.T @ g + HEAD_L2 * amat).ravel())
        return float(loss), np.concatenate(grads) if grads else np.zeros(0)

    theta0 = np.zeros(nb + na + nA)
    if na:
        theta0[nb] = PROTO_WEIGHT
    if len(theta0) and len(theta0) <= NEWTON_MAX:  # Newton's method: exact, and fast at this size
        feats = []
        if use_bias:
            feats.append(np.broadcast_to(np.eye(k), (n, k, k)))
        if na:
            feats.append(s[:, :, None])
        if nA:  # logits[i, k] += sum_j G[i, j] A[k, j]
            fa = np.zeros((n, k, k, g.shape[1]))
            fa[:, np.arange(k), np.arange(k), :] = g[:, None, :]
            feats.append(fa.reshape(n, k, nA))
        prec = np.zeros((len(theta0), len(theta0)))
        prec[np.arange(nb), np.arange(nb)] = 1 / BIAS_SD**2
        if na:
            prec[nb, nb] = 1 / PROTO_SD**2
        if nA:
            prec[nb + na :, nb + na :] = HEAD_L2 * np.eye(nA)
        theta0 = _newton(_Logits(z0, np.concatenate(feats, axis=2), w, present, prec), theta0, objective)
    elif len(theta0):
        raise ValueError(f"a fit of {len(theta0)} parameters: a profile has at most {MAX_LABELS} labels")
    b, a, amat = unpack(theta0)
    if (~present).any():  # a label the fit never saw: the mean correction, neither pulled nor pushed
        b = np.where(present, b, b[present].mean())
        if amat is not None:
            amat[~present] = 0.0
    return b, a, amat


# ---------------------------------------------------------------------------------------------
# one method: fit the parameters on some clips, apply them to others


def fit_method(
    method: str,
    x: NDArray[np.floating],
    z0: NDArray[np.float64],
    y: NDArray[np.int64],
    k: int,
) -> dict[str, Any]:
    """Parameters of ``method`` fitted on embeddings ``x`` with base logits ``z0`` and labels ``y``."""
    if method == "none":
        return {}
    mu, scale = centring(x, y, k)
    u = directions(x, mu, scale)
    params: dict[str, Any] = {"mu": mu, "scale": scale}
    use_p = "prototypes" in method
    use_h = method.startswith("head")
    use_b = method != "prototypes"
    s = _impute(loo_cosines(u, y, k)) if use_p else None
    basis = np.linalg.svd(u, full_matrices=False)[2][:HEAD_RANK] if use_h else None
    g = u @ basis.T if basis is not None else None
    b, a, amat = _fit_terms(z0, y, k, s, g, use_b)
    params["b"] = b.astype(np.float32)
    if use_p:
        params["protos"] = prototypes(u, y, k).astype(np.float32)
        params["a"] = float(a)
    if use_h:
        params["W"] = (amat @ basis).astype(np.float32)
    return params


def apply_method(
    method: str, params: dict[str, Any], x: NDArray[np.floating], z0: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Logits of ``method`` for embeddings ``x`` given base logits ``z0``."""
    if method == "none":
        return z0
    mu = np.asarray(params["mu"], np.float32)
    u = directions(x, mu, np.asarray(params["scale"], np.float32))
    z = z0 + np.asarray(params["b"], np.float64)
    if "protos" in params:
        c = np.asarray(params["protos"], np.float64)
        cos = u @ c.T
        empty = np.linalg.norm(c, axis=1) < 1e-9
        if empty.all():  # a fit on one clip's label alone: nothing to compare with
            cos[:] = 0.0
        elif empty.any():
            cos[:, empty] = cos[:, ~empty].mean(axis=1, keepdims=True)
        z = z + float(params["a"]) * cos
    if "W" in params:
        z = z + u @ np.asarray(params["W"], np.float64).T
    return z


# ---------------------------------------------------------------------------------------------
# cross-validation on the enrolment


def cv_folds(y: NDArray[np.int64], groups: NDArray[np.int64] | None, n_folds: int = 5) -> list[NDArray]:
    """Held-out index sets: by group where there are several, else stratified (leave-one-out when small).

    Deterministic (seeded by nothing but the data's order), so a refit on the
    same clips gives the same profile.
    """
    n = len(y)
    if groups is not None and len(np.unique(groups)) >= 2:
        ug = np.unique(groups)
        parts = np.array_split(ug, min(n_folds, len(ug)))
        return [np.flatnonzero(np.isin(groups, p)) for p in parts]
    if n <= 2 * n_folds * 2:
        return [np.array([i]) for i in range(n)]
    fold_of = np.empty(n, np.int64)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        fold_of[rows] = np.arange(len(rows)) % n_folds
    return [np.flatnonzero(fold_of == f) for f in range(n_folds) if np.any(fold_of == f)]


def cv_probabilities(
    method: str, x: NDArray, z0: NDArray[np.float64], y: NDArray[np.int64], k: int, folds: list[NDArray]
) -> NDArray[np.float64]:
    """Out-of-fold probabilities of every clip (``(n, k)``)."""
    prob = np.empty((len(y), k))
    for held in folds:
        train = np.setdiff1d(np.arange(len(y)), held)
        params = fit_method(method, x[train], z0[train], y[train], k)
        prob[held] = _softmax(apply_method(method, params, x[held], z0[held]))
    return prob


def balanced_log_loss(prob: NDArray[np.floating], y: NDArray[np.int64]) -> float:
    """Mean over the labels present of the mean ``-log p(true label)`` (floored at :data:`_EPS`).

    Why beside accuracy: with two clips per label an enrolment has about 16
    clips, and two accuracies out of 16 tie often; the log-loss also sees how
    far each clip's probability moved towards or away from its label.
    """
    nll = -np.log(np.maximum(np.asarray(prob, np.float64)[np.arange(len(y)), y], _EPS))
    return float(np.mean([nll[y == c].mean() for c in np.unique(y)]))


def accuracies(pred: NDArray[np.int64], y: NDArray[np.int64], names: tuple[str, ...]) -> dict[str, float]:
    """Per label accuracy (NaN without clips), ``overall`` and ``balanced`` (mean over labels)."""
    out = {}
    for c, n in enumerate(names):
        rows = y == c
        out[n] = float(np.mean(pred[rows] == c)) if rows.any() else math.nan
    per = [v for v in out.values() if not math.isnan(v)]
    out["overall"] = float(np.mean(pred == y))
    out["balanced"] = float(np.mean(per))
    return out


def clear_gain(plain: NDArray[np.int64], fitted: NDArray[np.int64], y: NDArray[np.int64]) -> bool:
    """The fitted labels fix clearly more clips than they break: ``fixed - broken >= sqrt(fixed + broken)``
    (a sign test's one standard error), and at least one.

    Why: with several candidates and a handful of clips the best cross-validated
    score is optimistic; this keeps the plain model where the gain is noise.
    """
    fixed = int(np.sum((fitted == y) & (plain != y)))
    broken = int(np.sum((fitted != y) & (plain == y)))
    return fixed - broken >= max(1.0, math.sqrt(fixed + broken))


# ---------------------------------------------------------------------------------------------
# the profile


@dataclass
class Fitted:
    """A fitted profile: ``apply`` turns embeddings and plain probabilities into the profile's."""

    method: str
    params: dict[str, Any]
    names: tuple[str, ...]
    model_labels: tuple[str, ...]
    kind: str = "calibration"
    cv_plain: dict[str, float] = field(default_factory=dict)
    cv_fitted: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown profile method {self.method!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown profile kind {self.kind!r}")
        self.names = tuple(self.names)
        self.model_labels = tuple(self.model_labels)
        self._fold = label_map(self.names, self.model_labels) if self.kind == "calibration" else None
        if self.kind == "own" and self.method == "none":
            raise ValueError("an own-labels profile needs a head")
        self.params = {**self.params, "kind": self.kind}

    def apply(
        self, embeddings: NDArray[np.floating], plain: NDArray[np.floating] | None = None
    ) -> NDArray[np.float32]:
        """``(m, len(names))`` probabilities for ``m`` windows or files (rows sum to 1)."""
        x = np.asarray(embeddings, np.float32)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        if self._fold is not None:
            if plain is None:
                raise ValueError("a calibration profile needs the plain probabilities")
            z0 = base_logits(plain, self._fold)
        else:
            z0 = np.zeros((len(x), len(self.names)))
        z = apply_method(self.method, self.params, x, z0)
        return _softmax(z).astype(np.float32)

    @classmethod
    def from_params(
        cls,
        method: str,
        params: dict[str, Any],
        names: tuple[str, ...] | list[str],
        model_labels: tuple[str, ...] | list[str],
        kind: str | None = None,
    ) -> Fitted:
        """Rebuild from storage (``params`` as :attr:`params` holds them, arrays or nested lists;
        their ``kind`` entry, written by :func:`fit`, wins over the argument)."""
        p: dict[str, Any] = {}
        for key, v in params.items():
            p[key] = v if isinstance(v, (float, int, str)) else np.asarray(v, np.float32)
        kind = str(p.get("kind", kind or "calibration"))
        return cls(method, p, tuple(names), tuple(model_labels), kind)


@dataclass
class CrossValidation:
    """Out-of-fold predictions of the plain model and of each candidate on one enrolment."""

    z0: NDArray[np.float64]
    y: NDArray[np.int64]
    names: tuple[str, ...]
    preds: dict[str, NDArray[np.int64]]
    scores: dict[str, dict[str, float]]
    #: each candidate's (and ``none``'s) :func:`balanced_log_loss` on the same folds
    losses: dict[str, float] = field(default_factory=dict)

    def choose(self, kind: str, candidates: tuple[str, ...], guard: str = GUARD) -> str:
        """The best of ``candidates`` by balanced accuracy (ties: the earlier); for a calibration,
        ``none`` unless it beats the plain model: by a :func:`clear_gain` (``guard="clear"``), by
        any margin in balanced accuracy (``guard="better"``; the plain model wins ties), or by a
        lower balanced log-loss with a balanced accuracy not lower (``guard="likelier"``)."""
        if guard not in GUARDS:
            raise ValueError(f"guard must be one of {GUARDS}, not {guard!r}")
        if kind != "calibration":
            return max(candidates, key=lambda m: self.scores[m]["balanced"])  # first of the best
        if not candidates:
            return "none"
        best = max(candidates, key=lambda m: self.scores[m]["balanced"])
        gain = self.scores[best]["balanced"] - self.scores["none"]["balanced"]
        if guard == "likelier":
            if any(m not in self.losses for m in ("none", *candidates)):
                raise ValueError("the likelier guard needs the cross-validated log-losses")
            kept = gain >= 0 and self.losses[best] < self.losses["none"]
        elif guard == "clear":
            kept = gain > 0 and clear_gain(self.preds["none"], self.preds[best], self.y)
        else:
            kept = gain > 0
        return best if kept else "none"


def check_enrolment(enrol: Enrolment, kind: str) -> tuple[NDArray, NDArray[np.int64], NDArray[np.float64]]:
    """Embeddings, labels and base logits of a valid enrolment (a ValueError says what is wrong)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    k = len(enrol.names)
    y = np.asarray(enrol.labels, np.int64)
    x = np.asarray(enrol.embeddings, np.float32)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError("embeddings must be (n, D) with one label per row")
    if k < 2 or len(np.unique(y)) < 2:
        raise ValueError("a profile needs at least two labels with clips")
    if y.min() < 0 or y.max() >= k:
        raise ValueError("labels must index names")
    if kind == "calibration":
        z0 = base_logits(enrol.plain, label_map(tuple(enrol.names), tuple(enrol.model_labels)))
    else:
        z0 = np.zeros((len(y), k))
    return x, y, z0


def cross_validate(enrol: Enrolment, kind: str, candidates: tuple[str, ...]) -> CrossValidation:
    """Every candidate's out-of-fold predictions on the enrolment (one set of folds for all)."""
    x, y, z0 = check_enrolment(enrol, kind)
    names = tuple(enrol.names)
    folds = cv_folds(y, enrol.groups)
    probs = {"none": _softmax(z0)}
    for m in candidates:
        probs[m] = cv_probabilities(m, x, z0, y, len(names), folds)
    preds = {m: np.argmax(p, axis=1) for m, p in probs.items()}
    scores = {m: accuracies(p, y, names) for m, p in preds.items()}
    losses = {m: balanced_log_loss(p, y) for m, p in probs.items()}
    return CrossValidation(z0, y, names, preds, scores, losses)


def fit(enrol: Enrolment, kind: str, candidates: tuple[str, ...] | None = None, guard: str = GUARD) -> Fitted:
    """Fit a profile on ``enrol``; the method is the candidate with the best cross-validated accuracy.

    Balanced accuracy (the mean over labels) decides; a tie goes to the earlier (simpler)
    candidate.  For ``calibration`` the plain model stays ("none", no change) unless the
    candidate beats it on held-out clips of the enrolment itself, as ``guard`` says
    (:meth:`CrossValidation.choose`).  Its figures carry the log-loss (``log_loss``) too.
    """
    if len(enrol.names) > MAX_LABELS:
        raise ValueError(f"a profile has at most {MAX_LABELS} labels, not {len(enrol.names)}")
    cands = tuple(candidates or CANDIDATES.get(kind, ()))
    cv = cross_validate(enrol, kind, cands)
    best = cv.choose(kind, cands, guard)
    return fitted_from(enrol, kind, best, cv)


def fitted_from(enrol: Enrolment, kind: str, method: str, cv: CrossValidation) -> Fitted:
    """The profile of ``method`` fitted on all of the enrolment, with its cross-validated figures."""
    params = fit_method(method, np.asarray(enrol.embeddings, np.float32), cv.z0, cv.y, len(cv.names))
    nan = {n: math.nan for n in [*cv.names, "overall", "balanced"]}

    def figures(m: str) -> dict[str, float]:
        return {**cv.scores[m], **({"log_loss": cv.losses[m]} if m in cv.losses else {})}

    plain_cv = nan if kind == "own" else figures("none")
    return Fitted(method, params, cv.names, tuple(enrol.model_labels), kind, plain_cv, figures(method))
