"""The live engine's adaptive hop: a wider hop while the worker is busy, the asked-for one otherwise.

Why (issue 19, item 3): the engine analyses a 3 s window every hop (0.5 s by default).  On a
loaded machine (a build beside the app, a slow laptop on battery) one window can take longer
than a hop; the late-window policy then skips to the newest window, so decisions come unevenly
and late.  Analysing every 1 s instead halves the work and keeps each decision prompt: the
curves get fewer points, but never stale ones.

:class:`HopPolicy` says when; :class:`HopGovernor` decides, one analysed window at a time, from
numbers the engine measures (no clock of its own, so it is tested without timing):

* **load**: the window's processing time (wall clock, features to published result) as a share
  of the base hop's duration in real time.  Wall clock: a worker that waits for a CPU takes
  longer just the same, and the hop is a deadline in wall-clock time.
* **starved**: the share of that wall time the worker did not run (``1 - CPU time / wall time``
  over the last few windows): how busy the machine is, seen from the worker.  A fast window on a
  machine full of other work keeps up, but each one then waits for a CPU; analysing half as
  often leaves those CPUs to the other work and keeps the decisions on time.  (Waits for the GIL
  count too: the GUI thread holds it a few ms a frame, a small share well under the thresholds.)
* **behind**: audio that has arrived but is not analysed yet, in base hops.

It widens when the mean load of the last few windows is over :attr:`HopPolicy.widen_load`, when
the worker was starved of a CPU for more than :attr:`HopPolicy.widen_starved` of their time, or
when :attr:`HopPolicy.widen_behind` hops of audio wait; it returns to the base hop only after
every window has stayed under :attr:`HopPolicy.calm_load` (and the starved share under
:attr:`HopPolicy.calm_starved`), with less than a hop waiting, for :attr:`HopPolicy.calm_s`
seconds of audio (hysteresis: the thresholds are apart and the return waits, so it does not flap
between speech, which runs the encoder, and short pauses, which may not).

Window starts stay on the base hop's grid: the widened hop is a whole multiple of it, so the
windows analysed at either hop are windows the file path has too, and a return to the base
hop is seamless.  Nothing here imports Qt.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class HopPolicy:
    """When the live engine widens its hop, and when it returns (the defaults are the app's)."""

    #: the widened hop in seconds, rounded to a whole multiple (at least 2) of the base hop
    widened_s: float = 1.0
    #: windows whose load is averaged before widening
    recent: int = 3
    #: widen when those windows took more than this share of a base hop on average ...
    widen_load: float = 0.6
    #: ... or when the worker waited for a CPU over this share of their time (None: not judged) ...
    widen_starved: float | None = 0.5
    #: ... or when this many base hops of audio wait to be analysed
    widen_behind: float = 2.0
    #: back to the base hop once every window takes under this share of a base hop ...
    calm_load: float = 0.3
    #: ... the worker waits for a CPU under this share of the last windows' time ...
    calm_starved: float = 0.25
    #: ... with less than a base hop of audio waiting, for this many seconds of audio
    calm_s: float = 5.0
    #: the first windows of a stream are not judged: they compute a whole window's features
    warmup: int = 1

    def __post_init__(self) -> None:
        if self.widened_s <= 0 or self.recent < 1 or self.calm_s < 0 or self.warmup < 0:
            raise ValueError("widened_s must be positive, recent at least 1, calm_s and warmup not negative")
        if not 0 < self.calm_load < self.widen_load:
            raise ValueError("calm_load must be positive and below widen_load (hysteresis)")
        if self.widen_starved is not None and not 0 < self.calm_starved < self.widen_starved:
            raise ValueError("calm_starved must be positive and below widen_starved (hysteresis)")

    def factor(self, base_hop_s: float) -> int:
        """The widened hop in base hops: a whole multiple, so window starts stay on the base grid."""
        return max(2, round(self.widened_s / base_hop_s))


class HopGovernor:
    """Decides the hop of one stream from the windows it has analysed (see the module doc)."""

    def __init__(self, policy: HopPolicy, base_hop_s: float) -> None:
        self.policy = policy
        self.widened = policy.factor(base_hop_s)
        #: the hop in base hops: 1, or :attr:`widened`
        self.factor = 1
        self.changes = 0
        self._loads: deque[float] = deque(maxlen=policy.recent)
        self._times: deque[tuple[float, float]] = deque(maxlen=policy.recent)  # (wall, CPU) seconds
        self._seen = 0
        self._calm_since: float | None = None

    @property
    def starved(self) -> float:
        """The share of the last windows' wall time the worker did not run (0 before any)."""
        wall = sum(w for w, _ in self._times)
        return 0.0 if wall <= 0 else max(0.0, 1.0 - sum(c for _, c in self._times) / wall)

    def observe(self, t_s: float, load: float, behind: float, wall_s: float = 0.0, cpu_s: float = 0.0) -> int:
        """One analysed window; returns the hop (in base hops) for the windows after it.

        ``t_s``: the window's end in seconds of audio (the calm period is counted in audio, so a
        replay sped up is judged alike); ``load``: its processing time over the base hop's real
        duration; ``behind``: base hops of audio arrived and not yet analysed; ``wall_s`` and
        ``cpu_s``: its wall-clock and worker-thread CPU seconds (both 0: the starved share is not
        judged).
        """
        self._seen += 1
        if self._seen <= self.policy.warmup:
            return self.factor
        p = self.policy
        self._loads.append(load)
        self._times.append((wall_s, min(cpu_s, wall_s)))
        full = len(self._loads) == p.recent
        starved = self.starved
        if self.factor == 1:
            busy = full and sum(self._loads) / len(self._loads) > p.widen_load
            contended = full and p.widen_starved is not None and starved > p.widen_starved
            if busy or contended or behind >= p.widen_behind:
                self.factor = self.widened
                self.changes += 1
                self._calm_since = None
        elif load < p.calm_load and behind < 1.0 and (p.widen_starved is None or starved < p.calm_starved):
            if self._calm_since is None:
                self._calm_since = t_s
            elif t_s - self._calm_since >= p.calm_s:
                self.factor = 1
                self.changes += 1
                self._calm_since = None
                self._loads.clear()  # the base hop is judged afresh: the widening windows are gone
                self._times.clear()
        else:
            self._calm_since = None
        return self.factor
