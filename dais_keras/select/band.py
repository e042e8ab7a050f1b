"""The band search: per-group widths whose exact cost fits a budget.

Every way of choosing channels ends here: the DAIS binarisation repair
(`dais_keras.select.repair`, scores = the indicators' alpha) and the
baselines (`dais_keras.select.baselines`, scores = a method's importance).
Given a cost (`total`, `exact`, `marginal`: the MACs `CostModel` or a
measured `LatencyModel`), the widths each group may take (`min_width`,
`round_to`), the channels of each group best first, and a start, it looks
for widths whose exact cost lies in the band `[lower, target]`:

1. Drop while the cost exceeds `target`: per group, the next allowed width
   down (the lowest-ranked channels, or the `round_to` block), ranked by
   score per unit of cost saved (`drop_rank`). Far from the target, each
   round removes the best-ranked candidates until they save about `chunk`
   of the excess (first-order), then re-evaluates exactly; near it, one
   step at a time, the best-ranked one that does not fall below the band.
   Where a step saves nothing at first order (a measured latency is flat
   inside a runtime's channel block), the search looks further down, up to
   `LOOKAHEAD` widths, by exact evaluation.
2. If no drop helps and the cost is still above `target`, restart from the
   smallest allowed widths: the result is never above `target` when any
   choice is.
3. Regrow while below `lower`: the best-ranked step (`step_rank`) that stays
   under `target`.
4. Still below the band (coarse `round_to` steps): swap pairs of groups (one
   grows, one shrinks, `SWAP_GROUPS`, `SWAP_STEPS`) and, when there are at
   most `EXHAUSTIVE_LIMIT` width combinations, try them all.
5. For a latency cost, widen every group as far as it costs (almost)
   nothing (`FREE_TOLERANCE` of the total), never above `target`.
6. With `fill`, regrow (as in 3) while any single step still fits under
   `target`: the result uses the budget as far as the allowed widths let
   it, not only down to the band's lower edge.

The band search never leaves the cost above `target` when some allowed
choice is under it; `dais_keras.select.guarantee` says why when none is.
"""

import dataclasses
import itertools

import numpy as np

#: Below the band after regrowing, pairs of groups are swapped (one grows,
#: one shrinks) among the best-ranked `SWAP_GROUPS` of each, by up to
#: `SWAP_STEPS` allowed widths; then, if the model has at most
#: `EXHAUSTIVE_LIMIT` width combinations, all of them are tried.
SWAP_GROUPS = 16
SWAP_STEPS = 3
EXHAUSTIVE_LIMIT = 20000
#: Allowed widths a drop looks further down when a step saves nothing.
LOOKAHEAD = 16
#: A latency cost's free widening may add this share of the total.
FREE_TOLERANCE = 1e-3


def _rank_per_mac(scores, saved, fraction):
    return float(scores.sum()) / max(saved, 1e-12)


def _rank_mean(scores, saved, fraction):
    return float(scores.mean())


def _rank_uniform(scores, saved, fraction):
    return -fraction


#: How a step (channels `scores` leaving or joining a group that keeps
#: `fraction` of its channels, changing the cost by `saved`) is ranked:
#: higher is more worth keeping.
RANKS = {"per_mac": _rank_per_mac, "mean": _rank_mean, "uniform": _rank_uniform}


@dataclasses.dataclass
class Selection:
    """The result of a band search.

    Attributes:
        widths: Int array, the kept width of each group.
        order: Per group, its flat channel indices, best first (a group
            keeps the first `widths[g]`).
        macs: The exact cost of that choice (MACs, or ms for a latency
            cost).
        exhausted: When no choice in the band was found and every
            combination of allowed widths was tried: how many (so the band
            is provably unreachable); else `None`.
    """

    widths: np.ndarray
    order: list
    macs: float
    exhausted: int = None


class BandSearch:
    """Fits per-group widths into the band `[lower, target]` of a cost.

    Args:
        cost: A cost model (`total`, `num_channels`, `exact(mask)`,
            `marginal(mask)`; `kind == "latency"` for measured latencies).
        allowed: Per group, the sorted widths it may take (the last one is
            its full size).
        order: Per group, its flat channel indices, best first.
        scores: Flat float array: higher is more worth keeping.
        target: The largest allowed cost `F`.
        lower: The smallest accepted cost, `(1 - band) F`.
        drop_rank: How drops are ranked (a key of `RANKS`; not
            `"uniform"`).
        step_rank: How single regrow and swap steps are ranked (a key of
            `RANKS`).
        chunk: Share of the excess removed per exact re-evaluation, in
            [0, 1] (0: one step at a time, re-ranked after each).
    """

    def __init__(self, cost, allowed, order, scores, target, lower, drop_rank="per_mac",
                 step_rank="per_mac", chunk=0.25):
        self.cost = cost
        self.allowed = allowed
        self.order = order
        self.scores = np.asarray(scores, dtype=np.float64)
        self.target = target
        self.lower = lower
        self.drop_rank = RANKS[drop_rank]
        self.step_rank = RANKS[step_rank]
        self.chunk = chunk

    def mask(self, widths):
        """Flat 0/1 mask keeping the first `widths[g]` channels of each
        group's order."""
        m = np.zeros(self.cost.num_channels)
        for g, w in enumerate(widths):
            m[self.order[g][:w]] = 1.0
        return m

    def value(self, widths):
        """The exact cost of these widths."""
        return self.cost.exact(self.mask(widths))

    def run(self, widths, fill=False):
        """Searches from `widths` (see the module docstring).

        Args:
            widths: The start, one allowed width per group.
            fill: After landing in the band, keep regrowing the best-ranked
                steps while one still fits under `target` (step 6).

        Returns:
            A `Selection`.
        """
        widths = np.array(widths, dtype=np.int64)
        current = self.value(widths)
        widths, current = self._drop(widths, current)
        if current > self.target:
            smallest = np.array([options[0] for options in self.allowed], dtype=np.int64)
            value = self.value(smallest)
            if value < current:
                widths, current = smallest, value
        widths, current = self._grow(widths, current)
        exhausted = None
        if current < self.lower:
            widths, current = self._swap(widths, current)
        if current < self.lower:
            found = self._search_all(widths)
            if found is not None and found[0] is not None:
                widths, current = found
            elif found is not None:
                exhausted = found[1]
        if getattr(self.cost, "kind", "macs") == "latency" and current <= self.target:
            widths, current = self._free_regrow(widths, current)
        if fill and current <= self.target:
            widths, current = self._grow(widths, current, until=self.target)
        return Selection(widths, self.order, current, exhausted)

    # -- 1. drop -------------------------------------------------------------
    def _steps_down(self, g, widths, current, marginal):
        """Drop steps of group `g`, nearest first: `(rank, g, new width,
        saving)`, ranks made monotone so that a group loses its channels in
        order."""
        options = self.allowed[g]
        steps, prev, running = [], int(widths[g]), -np.inf
        for j, new in enumerate(options[options < widths[g]][::-1].tolist()):
            removed = self.order[g][new:prev]
            saved = float(marginal[removed].sum())
            if saved <= 0 and not steps and j < LOOKAHEAD:
                trial = widths.copy()
                trial[g] = new
                saved = current - self.value(trial)
                if saved <= 0:
                    continue
            if saved <= 0:
                break
            running = max(running, self.drop_rank(self.scores[removed], saved, None))
            steps.append((running, g, new, saved))
            prev = new
        return steps

    def _drop(self, widths, current):
        key = lambda c: (c[0], c[1], -c[2])  # noqa: E731
        while current > self.target:
            marginal = self.cost.marginal(self.mask(widths))
            per_group = [self._steps_down(g, widths, current, marginal) for g in range(len(widths))]
            candidates = sorted((c for steps in per_group for c in steps), key=key)
            if not candidates:
                break
            excess = current - self.target
            if candidates[0][3] >= self.chunk * excess:
                # One step at a time: the best-ranked next step that does
                # not fall below the band (the best one if they all do).
                firsts = sorted((steps[0] for steps in per_group if steps), key=key)
                widths, current = self._one_step(widths, firsts)
                continue
            removed_estimate = 0.0
            for _, g, new, saved in candidates:
                widths[g] = min(widths[g], new)
                removed_estimate += saved
                if removed_estimate >= self.chunk * excess:
                    break
            current = self.value(widths)
        return widths, current

    def _one_step(self, widths, steps):
        for _, g, new, _ in steps:
            trial = widths.copy()
            trial[g] = new
            value = self.value(trial)
            if value >= self.lower:
                return trial, value
        trial = widths.copy()
        trial[steps[0][1]] = steps[0][2]
        return trial, self.value(trial)

    # -- 3. regrow -----------------------------------------------------------
    def _ranked_steps(self, widths, up):
        """Single steps `(group, new width)`: regrow steps best first
        (`up=True`), or drop steps cheapest to lose first."""
        marginal = self.cost.marginal(self.mask(widths))
        steps = []
        for g, options in enumerate(self.allowed):
            beyond = options[options > widths[g]] if up else options[options < widths[g]]
            if not beyond.size:
                continue
            new = int(beyond[0] if up else beyond[-1])
            changed = self.order[g][min(new, widths[g]) : max(new, widths[g])]
            rank = self.step_rank(
                self.scores[changed], float(marginal[changed].sum()), widths[g] / options[-1]
            )
            steps.append((rank, -g if up else g, g, new))
        steps.sort(reverse=up)
        return [(g, new) for _, _, g, new in steps]

    def _grow(self, widths, current, until=None):
        """Takes the best-ranked single regrow step that stays under
        `target` while the cost is below `until` (default: the band's lower
        edge); a group whose next step does not fit is not tried again."""
        until = self.lower if until is None else until
        blocked = set()
        while current < until:
            grown = False
            for g, new in self._ranked_steps(widths, up=True):
                if g in blocked:
                    continue
                trial = widths.copy()
                trial[g] = new
                value = self.value(trial)
                if value <= self.target:
                    widths, current, grown = trial, value, True
                    break
                blocked.add(g)
            if not grown:
                break
        return widths, current

    # -- 4. swaps and all combinations --------------------------------------
    def _swap(self, widths, current):
        """Grows one group by up to `SWAP_STEPS` allowed widths while
        shrinking another by up to as many, best-ranked groups first (the
        first `SWAP_GROUPS` of each list). Takes the first pair that lands
        in the band, else the pair that gets closest from below, and
        repeats."""
        for _ in range(50):
            if current >= self.lower:
                break
            grows = [g for g, _ in self._ranked_steps(widths, up=True)][:SWAP_GROUPS]
            drops = [h for h, _ in self._ranked_steps(widths, up=False)][:SWAP_GROUPS]
            best = None
            for g, h in itertools.product(grows, drops):
                if h == g:
                    continue
                ups = self.allowed[g][self.allowed[g] > widths[g]][:SWAP_STEPS]
                downs = self.allowed[h][self.allowed[h] < widths[h]][::-1][:SWAP_STEPS]
                for up, down in itertools.product(ups.tolist(), downs.tolist()):
                    trial = widths.copy()
                    trial[g], trial[h] = up, down
                    value = self.value(trial)
                    if value > self.target or value <= current:
                        continue
                    if value >= self.lower:
                        return trial, value
                    if best is None or value > best[1]:
                        best = (trial, value)
            if best is None:
                break
            widths, current = best
        return widths, current

    def _search_all(self, widths):
        """Every combination of allowed widths, when there are at most
        `EXHAUSTIVE_LIMIT`: the in-band one closest to `widths` (fewest
        allowed steps away; then the highest cost). Returns `(widths,
        cost)`, `None` when there are too many combinations, and `(None,
        count)` when none is in the band."""
        count = 1
        for options in self.allowed:
            count *= len(options)
            if count > EXHAUSTIVE_LIMIT:
                return None
        position = [int(np.searchsorted(o, w)) for o, w in zip(self.allowed, widths)]
        best = None
        for combo in itertools.product(*[range(len(o)) for o in self.allowed]):
            trial = np.array([self.allowed[g][i] for g, i in enumerate(combo)], dtype=np.int64)
            value = self.value(trial)
            if not self.lower <= value <= self.target:
                continue
            key = (sum(abs(i - j) for i, j in zip(combo, position)), -value)
            if best is None or key < best[0]:
                best = (key, trial, value)
        if best is None:
            return None, count
        return best[1], best[2]

    # -- 5. free channels of a latency cost ---------------------------------
    def _free_regrow(self, widths, current):
        """Widens every group as far as it costs (almost) nothing.

        A measured latency is flat inside a runtime's channel block (e.g. 33
        to 64 output channels may cost the same): channels there are free.
        Each group grows to its widest allowed width that adds at most
        `FREE_TOLERANCE * total` and stays within the target."""
        widths = widths.copy()
        for g, options in enumerate(self.allowed):
            for w in options[options > widths[g]][::-1].tolist():
                trial = widths.copy()
                trial[g] = w
                value = self.value(trial)
                if value <= self.target and value <= current + FREE_TOLERANCE * self.cost.total:
                    widths, current = trial, value
                    break
        return widths, current


def select_widths(problem, plan, chunk=None):
    """Per-group widths meeting the budget band, from a baseline's `Plan`.

    Args:
        problem: A `dais_keras.select.problem.PruningProblem` with a budget.
        plan: A `Plan`: its scores order each group's channels; its
            `widths` (or the full model) are the start; `per_mac` and
            `regrow` choose the ranks (`"per_mac"` or `"mean"` for drops;
            `"uniform"` regrows the group with the smallest width fraction).
        chunk: Share of the excess cost removed per re-evaluation, in
            [0, 1] (default: the plan's `chunk`).

    Returns:
        A `Selection`.

    Raises:
        ValueError: If the plan's scores are not one per prunable channel.
    """
    scores = np.asarray(plan.scores, dtype=np.float64)
    if scores.shape != (problem.num_channels,):
        raise ValueError(
            f"A method returned {scores.shape} scores; expected ({problem.num_channels},), one "
            "per prunable channel."
        )
    if plan.widths is None:
        widths = [options[-1] for options in problem.allowed]
    else:
        widths = plan.widths
    drop_rank = "per_mac" if plan.per_mac else "mean"
    chunk = getattr(plan, "chunk", 0.25) if chunk is None else chunk
    search = BandSearch(
        problem.cost, problem.allowed, problem.order(scores), scores, problem.target,
        problem.lower, drop_rank=drop_rank,
        step_rank="uniform" if plan.regrow == "uniform" else drop_rank, chunk=chunk,
    )
    return search.run(widths)
