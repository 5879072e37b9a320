"""Comparing arms' conversion rates: probability to beat control, to be best, expected loss.

Model: arm ``j`` has conversion rate ``p_j ~ Beta(a_j, b_j)``, independent across arms
(Beta(1, 1) prior, Binomial likelihood). With ``f_j``/``F_j`` the posterior density/CDF:

- ``P(p_i > p_c) = ∫ f_i(x) F_c(x) dx`` — exact for two arms up to the quadrature's
  1e-10 (Evan Miller's closed form agrees), at any count: no Monte Carlo, no normal
  approximation.
- ``P(i is best) = ∫ f_i(x) ∏_{j≠i} F_j(x) dx``.
- expected loss of choosing ``i``: ``E[max_j p_j − p_i] = E[max_j p_j] − E[p_i]``, with
  ``E[max_j p_j] = Σ_i ∫ x f_i(x) ∏_{j≠i} F_j(x) dx``; in conversion-rate units.

All three come from one tabulation of every arm's density and CDF on the union grid of
``_grid`` (composite Gauss–Legendre on the logit scale); they agree with 30-digit
references to about 1e-9. Problems are processed in chunks of sixteen: the arrays then
stay in cache, which on this workload is worth more than larger vectors.

The relative uplift ``p_i / p_c − 1`` has its equal-tailed credible interval computed from
the exact distribution of ``L = log p_i − log p_c``: its CDF
``Q(ℓ) = P(L ≤ ℓ) = ∫ h_c(u − ℓ) H_i(u) du`` (``h``/``H``: density/CDF of ``log p``) is a
one-dimensional integral of a *shifted density* (cheap to evaluate anywhere) against a
*tabulated CDF*. The CDF tabulated is that of the narrower of the two posteriors (on its
own finer grid), so the smooth, wider density is what gets shifted; the part of the line
beyond that grid is a single ``betainc``. Quantiles of ``L`` are found by Halley's method
safeguarded by bisection (``Q'(ℓ)`` is the same integral with the density in place of
the CDF, ``Q''(ℓ)`` with its derivative), started from a Cornish–Fisher estimate with the
exact cumulants of ``L`` (polygamma functions) to the fourth; one or two steps do. Where
the shifted density is cut off at ``p = 1`` inside the grid and does not vanish smoothly
there (few failures: ``b ≤ 12``), the interval containing the cut gets its own
quadrature up to the cut. At the interval's ends, ``Q`` agrees with a 30-digit reference
to 1e-9.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from daypart.experiments.stats._grid import (
    FINE_LEVELS,
    NODES,
    WEIGHTS,
    BoolArray,
    FloatArray,
    IndexArray,
    Rule,
    breakpoints,
    exp_flushed,
    log_x,
    polygammas,
    tabulate,
    unique_rows,
)

CHUNK = 16
"""Problems per vectorised chunk (measured on a 4-arm report: 16 keeps the arrays in cache
with the fewest calls)."""
PAIR_CHUNK = 96
"""Comparisons per chunk of the uplift solver."""

OWN_RULE = Rule.of_order(8)
"""The rule on each narrow arm's own grid in the uplift integral."""
_SMOOTH_CUT_B = 12.0  # (1 - x)**(b - 1) vanishes to order 11 or more: no special treatment
_ITERATION_LIMIT = 60


def compare(
    a: FloatArray, b: FloatArray, control: int = 0, edges: FloatArray | None = None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """For problems with posteriors ``Beta(a, b)`` (shape (B, k), k ≥ 2), return
    ``(prob_beat_control, prob_best, expected_loss, log_norm)``, each (B, k).

    ``prob_beat_control`` of the control arm itself is 0.5 (a tie), by convention.
    ``log_norm`` is each posterior's log normalising constant as the quadrature sees it
    (see ``Tables``), for ``uplift_interval``. ``edges``: each arm's ``breakpoints``
    (B, k, P), if already known."""
    if edges is None:
        edges = breakpoints(a, b)
    union = np.sort(edges.reshape(a.shape[0], -1), axis=-1)
    beat = np.empty_like(a)
    best = np.empty_like(a)
    loss = np.empty_like(a)
    log_norm = np.empty_like(a)
    for start in range(0, a.shape[0], CHUNK):
        part = slice(start, start + CHUNK)
        beat[part], best[part], loss[part], log_norm[part] = _compare_chunk(
            a[part], b[part], union[part], control
        )
    beat[:, control] = 0.5
    np.clip(beat, 0.0, 1.0, out=beat)
    np.clip(best, 0.0, 1.0, out=best)
    np.maximum(loss, 0.0, out=loss)
    return beat, best, loss, log_norm


def _compare_chunk(
    a: FloatArray, b: FloatArray, edges: FloatArray, control: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    tables = tabulate(a, b, edges)
    x = np.exp(tables.log_p)
    cdf = tables.cdf
    weighted = tables.density
    weighted *= tables.weight[:, None, :]  # the tables are ours: reuse the buffer
    beat = np.einsum("rkn,rn->rk", weighted, cdf[:, control])
    mean = np.einsum("rkn,rn->rk", weighted, x)
    # ∏_{j≠i} F_j as (∏_j F_j) / F_i; where F_i is 0 its density is 0 as well.
    others = np.divide(cdf.prod(axis=1)[:, None, :], cdf, out=np.zeros_like(cdf), where=cdf > 0)
    others *= weighted
    best = others.sum(axis=-1)
    expected_max = np.einsum("rkn,rn->r", others, x)
    return beat, best, expected_max[:, None] - mean, tables.log_norm


def uplift_interval(
    a: FloatArray,
    b: FloatArray,
    control: int = 0,
    level: float = 0.95,
    log_norm: FloatArray | None = None,
    fine_edges: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed ``level`` credible interval of ``p_i / p_control − 1`` per arm (B, k);
    the control's own is (0, 0). ``log_norm`` (from ``compare``) and ``fine_edges`` (each
    arm's ``breakpoints`` at ``FINE_LEVELS``, (B, k, P)) save recomputing them."""
    problems, arms = a.shape
    low = np.zeros_like(a)
    high = np.zeros_like(a)
    treatments = [i for i in range(arms) if i != control]
    if not treatments or problems == 0:
        return low, high
    if log_norm is None:
        log_norm = tabulate(
            a.reshape(-1, 1), b.reshape(-1, 1), breakpoints(a, b).reshape(a.size, -1)
        ).log_norm.reshape(a.shape)
    # Every distinct posterior is tabulated once; every distinct comparison (all empty
    # segments are the same one) is solved once.
    posteriors, arm_index = unique_rows(np.stack([a.ravel(), b.ravel()], axis=-1))
    norms = np.empty(len(posteriors))
    norms[arm_index] = log_norm.ravel()
    if fine_edges is None:
        fine = breakpoints(posteriors[:, 0], posteriors[:, 1], FINE_LEVELS)
    else:
        fine = np.empty((len(posteriors), fine_edges.shape[-1]))
        fine[arm_index] = fine_edges.reshape(arm_index.size, -1)
    arm_index = arm_index.reshape(problems, arms)
    pairs, pair_index = unique_rows(
        np.stack(
            [arm_index[:, treatments].ravel(), np.repeat(arm_index[:, control], len(treatments))],
            axis=-1,
        )
    )
    tail = (1.0 - level) / 2.0
    probabilities = np.array([tail, 1.0 - tail])
    ell = np.empty((len(pairs), 2))
    # In chunks that share control arms, so that the working arrays stay in cache.
    order = np.argsort(pairs[:, 1], kind="stable")
    for start in range(0, len(order), PAIR_CHUNK):
        chunk = order[start : start + PAIR_CHUNK]
        needed, local = np.unique(pairs[chunk], return_inverse=True)
        local = local.reshape(-1, 2)
        solver = _LogRatio(
            posteriors[needed, 0],
            posteriors[needed, 1],
            norms[needed],
            fine[needed],
            local[:, 0],
            local[:, 1],
        )
        ell[chunk] = solver.quantiles(probabilities)
    uplift = np.expm1(ell)[pair_index.reshape(-1)].reshape(problems, len(treatments), 2)
    low[:, treatments] = uplift[..., 0]
    high[:, treatments] = uplift[..., 1]
    return low, high


def _log_cumulants(
    a: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """First four cumulants of ``log p`` for ``p ~ Beta(a, b)``: ψ⁽ⁿ⁾(a) − ψ⁽ⁿ⁾(a + b)."""
    both = np.concatenate([a, a + b])
    psi = special.digamma(both)
    first, second, third = polygammas(both)
    size = a.size
    return (
        psi[:size] - psi[size:],
        first[:size] - first[size:],
        second[:size] - second[size:],
        third[:size] - third[size:],
    )


class _LogRatio:
    """The distribution of ``L = log p_i − log p_c`` for pairs of posteriors.

    With ``u = log p``, ``h``/``H``/``S`` its density/CDF/survival function:
    treatment narrower: ``Q(ℓ) = ∫ h_c(u − ℓ) H_i(u) du + P(log p_c > u_end − ℓ)``;
    control narrower:   ``Q(ℓ) = ∫ h_i(u + ℓ) S_c(u) du + P(log p_i < u_start + ℓ)``,
    the integrals over the narrow arm's own grid (``u_start``..``u_end``). On the logit
    scale ``du = (1 − x) dt``, and ``Q'(ℓ)`` is the same integral with the narrow
    density ``g(t) dt`` in place of ``H du``.
    """

    def __init__(
        self,
        a: FloatArray,
        b: FloatArray,
        log_norm: FloatArray,
        edges: FloatArray,
        treatment: IndexArray,
        control: IndexArray,
    ) -> None:
        # Var(log p) ≈ 1/a − 1/(a + b): tabulate the narrower, shift the wider.
        spread_sq = 1.0 / a - 1.0 / (a + b)
        self.treatment_narrow = spread_sq[treatment] <= spread_sq[control]
        tn = self.treatment_narrow
        narrow_arm = np.where(tn, treatment, control)
        wide = np.where(tn, control, treatment)
        # Only the narrow arms need their own grid.
        tabulated_arms, narrow = np.unique(narrow_arm, return_inverse=True)
        a_n, b_n = a[tabulated_arms], b[tabulated_arms]
        tables = tabulate(a_n[:, None], b_n[:, None], edges[tabulated_arms], OWN_RULE)
        self.tables = tables
        self.narrow = narrow
        self.a, self.b = a, b
        self.a_n, self.b_n = a_n, b_n
        self.treatment, self.control = treatment, control
        self.sign = np.where(tn, -1.0, 1.0)
        cdf = tables.cdf[narrow, 0]
        tabulated = np.where(tn[:, None], cdf, 1.0 - cdf)
        self.x = np.exp(tables.log_p[narrow])
        self.cdf_weight = tables.weight[narrow] * np.exp(tables.log_q[narrow]) * tabulated
        self.density_weight = tables.weight[narrow] * tables.density[narrow, 0]
        self.wide = wide
        self.a_w = a[wide]
        self.b_w = b[wide]
        self.wide_log_x = self.a_w[:, None] * tables.log_p[narrow]
        self.log_norm_w = log_norm[wide]
        own = tables.edges
        self.x_start = np.exp(log_x(own[narrow, 0])[0])
        self.x_end = np.exp(log_x(own[narrow, -1])[0])
        # The wide arm's mass is inside its own first and last breakpoints.
        self.wide_start, self.wide_end = edges[wide, 0], edges[wide, -1]
        # The cumulants of L: those of log p_i minus (odd) / plus (even) those of
        # log p_c. They only seed the iteration.
        first, second, third, fourth = _log_cumulants(a, b)
        self.k1 = first[treatment] - first[control]
        k2 = second[treatment] + second[control]
        self.spread = np.sqrt(k2)
        self.skew = (third[treatment] - third[control]) / k2**1.5
        self.kurtosis = (fourth[treatment] + fourth[control]) / (k2 * k2)

    def _shifted_density(
        self, rows: IndexArray, shift: FloatArray, log_scaled: FloatArray, x: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Density of the wide arm's ``log p`` at ``log x + shift``, given
        ``log_scaled = a_w * log x``; zero where the shifted rate reaches 1. Also the
        shifted rate's odds ``x' / (1 − x')``, which its log-derivative needs."""
        moved = x * np.exp(shift)[:, None]
        inside = moved < 1.0
        np.copyto(moved, 0.0, where=~inside)
        log_h = np.log1p(-moved)
        odds = moved / (1.0 - moved)
        log_h *= (self.b_w[rows] - 1.0)[:, None]
        log_h += log_scaled
        log_h += (self.a_w[rows] * shift - self.log_norm_w[rows])[:, None]
        np.copyto(log_h, -np.inf, where=~inside)
        return exp_flushed(log_h), odds

    def cdf_and_density(
        self, rows: IndexArray, ell: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``Q(ℓ)``, ``Q'(ℓ)`` and (approximately: only for Halley's step) ``Q''(ℓ)`` for
        the pairs ``rows`` at ``ℓ`` (one per row)."""
        shift = self.sign[rows] * ell
        h, odds = self._shifted_density(rows, shift, self.wide_log_x[rows], self.x[rows])
        density_weight = self.density_weight[rows]
        q = np.einsum("rn,rn->r", self.cdf_weight[rows], h)
        d = np.einsum("rn,rn->r", density_weight, h)
        # d/dv log h(v) = a_w − (b_w − 1) x'/(1 − x')
        h *= odds
        curvature = self.a_w[rows] * d
        curvature -= (self.b_w[rows] - 1.0) * np.einsum("rn,rn->r", density_weight, h)
        curvature *= self.sign[rows]
        cut = (shift > 0.0) & (self.b_w[rows] <= _SMOOTH_CUT_B)
        if cut.any():
            h /= np.where(odds > 0.0, odds, 1.0)  # back to the density
            self._integrate_to_cut(rows, shift, cut, h, q, d)
        q += self._beyond_grid(rows, ell)
        return q, d, curvature

    def _beyond_grid(self, rows: IndexArray, ell: FloatArray) -> FloatArray:
        """The part of ``Q`` outside the narrow arm's grid, where its CDF is 0 or 1: a
        tail probability of the wide arm, computed only where it is not negligible."""
        tn = self.treatment_narrow[rows]
        point = np.where(tn, self.x_end[rows] * np.exp(-ell), self.x_start[rows] * np.exp(ell))
        with np.errstate(divide="ignore"):
            t = np.log(point) - np.log1p(-np.minimum(point, 1.0))
        wide = self.wide[rows]
        needed = (point < 1.0) & (t > self.wide_start[rows]) & (t < self.wide_end[rows])
        result = np.where(tn & (point < 1.0) & (t <= self.wide_start[rows]), 1.0, 0.0)
        result = np.where(~tn & ((point >= 1.0) | (t >= self.wide_end[rows])), 1.0, result)
        if needed.any():
            at = wide[needed]
            cdf = special.betainc(self.a[at], self.b[at], point[needed])
            result[needed] = np.where(tn[needed], 1.0 - cdf, cdf)
        return result

    def _integrate_to_cut(
        self,
        rows: IndexArray,
        shift: FloatArray,
        cut: BoolArray,
        h: FloatArray,
        q: FloatArray,
        d: FloatArray,
    ) -> None:
        """The shifted density drops to zero where the shifted rate reaches 1; with few
        failures it does so abruptly, which no polynomial rule integrates well. Replace
        the interval containing that point by a rule that ends there."""
        which = np.flatnonzero(cut)
        t_cut = -np.log(np.expm1(shift[which]))  # logit(exp(−shift))
        edges = self.tables.edges[self.narrow[rows[which]]]
        inside = (t_cut > edges[:, 0]) & (t_cut < edges[:, -1])
        which, t_cut, edges = which[inside], t_cut[inside], edges[inside]
        if which.size == 0:
            return
        pair = rows[which]
        narrow = self.narrow[pair]
        interval = (edges < t_cut[:, None]).sum(axis=-1) - 1
        start = edges[np.arange(which.size), interval]
        # Remove what the full intervals from the cut's onwards contributed.
        node_interval = np.repeat(np.arange(edges.shape[1] - 1), len(OWN_RULE.nodes))
        dropped = np.where(node_interval[None, :] >= interval[:, None], h[which], 0.0)
        q[which] -= np.einsum("rn,rn->r", self.cdf_weight[pair], dropped)
        d[which] -= np.einsum("rn,rn->r", self.density_weight[pair], dropped)
        half = (t_cut - start) / 2.0
        t = (start + half)[:, None] + half[:, None] * NODES
        weight = half[:, None] * WEIGHTS
        log_p, log_q = log_x(t)
        a_n, b_n = self.a_n[narrow, None], self.b_n[narrow, None]
        log_norm_n = self.tables.log_norm[narrow, 0][:, None]
        density = exp_flushed(a_n * log_p + b_n * log_q - log_norm_n)
        x = np.exp(log_p)
        cdf = special.betainc(a_n, b_n, x)
        tabulated = np.where(self.treatment_narrow[pair, None], cdf, 1.0 - cdf)
        h_cut = self._shifted_density(pair, shift[which], self.a_w[pair, None] * log_p, x)[0]
        q[which] += np.einsum("rn,rn->r", weight * np.exp(log_q) * tabulated, h_cut)
        d[which] += np.einsum("rn,rn->r", weight * density, h_cut)

    def quantiles(self, probabilities: FloatArray) -> FloatArray:
        """Quantiles of ``L`` for every pair: shape (pairs, len(probabilities))."""
        pairs = self.k1.size
        count = probabilities.size
        rows = np.repeat(np.arange(pairs), count)
        target = np.tile(probabilities, pairs)
        z = special.ndtri(target)
        spread = self.spread[rows]
        skew, kurtosis = self.skew[rows], self.kurtosis[rows]
        # Cornish–Fisher to the fourth cumulant.
        w = z + (z * z - 1.0) * skew / 6.0 + (z**3 - 3.0 * z) * kurtosis / 24.0
        w -= (2.0 * z**3 - 5.0 * z) * skew * skew / 36.0
        ell = self.k1[rows] + spread * w
        low = self.k1[rows] - 80.0 * spread - 50.0
        high = self.k1[rows] + 80.0 * spread + 50.0
        active = np.arange(rows.size)
        for _ in range(_ITERATION_LIMIT):
            if active.size == 0:
                break
            current = ell[active]
            q, d, curvature = self.cdf_and_density(rows[active], current)
            error = q - target[active]
            low[active] = np.where(error < 0.0, current, low[active])
            high[active] = np.where(error >= 0.0, current, high[active])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                newton = error / d
                step = current - newton / (1.0 - 0.5 * newton * curvature / d)
            halley = np.isfinite(step) & (step >= low[active]) & (step <= high[active])
            # Halley unless it leaves the bracket (or the density underflowed): bisect.
            step = np.where(halley, step, (low[active] + high[active]) / 2.0)
            moved = np.abs(step - current)
            ell[active] = step
            # Halley's error cubes each step: one that moved less than 1e-3 spreads
            # leaves an error of order 1e-9 spreads.
            done = halley & (moved <= 1e-3 * spread[active])
            active = active[~done]
        result: FloatArray = ell.reshape(pairs, count)
        return result
