"""Comparing arms' conversion rates: probability to beat control, to be best, expected loss.

Model: arm ``j`` has conversion rate ``p_j ~ Beta(a_j, b_j)``, independent across arms
(Beta(1, 1) prior, Binomial likelihood). With ``f_j``/``F_j`` the posterior density/CDF:

- ``P(p_i > p_c) = ∫ f_i(x) F_c(x) dx`` — exact for two arms up to the quadrature's
  1e-10, at any count: no Monte Carlo, no normal approximation.
- ``P(i is best) = ∫ f_i(x) ∏_{j≠i} F_j(x) dx``.
- expected loss of choosing ``i``: ``E[max_j p_j − p_i] = E[max_j p_j] − E[p_i]``, with
  ``E[max_j p_j] = Σ_i ∫ x f_i(x) ∏_{j≠i} F_j(x) dx``; in conversion-rate units.

All three come from one tabulation of every arm's density and CDF on the union grid of
``_grid`` (composite Gauss–Legendre on the logit scale). Problems are processed in chunks
of a few: the arrays then stay in cache, which on this workload is worth more than larger
vectors.

The relative uplift ``p_i / p_c − 1`` has its equal-tailed credible interval computed from
the exact distribution of ``L = log p_i − log p_c``: its CDF
``Q(ℓ) = P(L ≤ ℓ) = ∫ h_c(u − ℓ) H_i(u) du`` (``h``/``H``: density/CDF of ``log p``) is a
one-dimensional integral of a *shifted density* (cheap to evaluate anywhere) against a
*tabulated CDF*. The CDF tabulated is that of the narrower of the two posteriors (on its
own finer grid), so the smooth, wider density is what gets shifted; the part of the line
beyond that grid is a single ``betainc``. Quantiles of ``L`` are found by Halley's method
safeguarded by bisection (``Q'(ℓ)`` is the same integral with the density in place of
the CDF, ``Q''(ℓ)`` with its derivative) started from a Cornish–Fisher estimate with the
cumulants of ``L`` (from the same tables); one or two steps reach 1e-12. Where the shifted density is cut off at ``p = 1`` within the grid
and does not vanish smoothly there (few failures: ``b ≤ 12``), the interval containing
the cut gets its own quadrature up to the cut.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from daypart.experiments.stats._grid import (
    FINE_CORE,
    FINE_TAIL,
    NODES,
    ORDER,
    WEIGHTS,
    BoolArray,
    FloatArray,
    IndexArray,
    breakpoints,
    exp_flushed,
    log_x,
    tabulate,
)

CHUNK = 8
"""Problems per vectorised chunk (measured: 8 is the fastest on a 4-arm report)."""
PAIR_CHUNK = 96
"""Comparisons per chunk of the uplift solver."""

_SMOOTH_CUT_B = 12.0  # (1 - x)**(b - 1) vanishes to order 11 or more: no special treatment
_ITERATION_LIMIT = 60


def compare(
    a: FloatArray, b: FloatArray, control: int = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For problems with posteriors ``Beta(a, b)`` (shape (B, k), k ≥ 2), return
    ``(prob_beat_control, prob_best, expected_loss)``, each (B, k).

    ``prob_beat_control`` of the control arm itself is 0.5 (a tie), by convention."""
    beat = np.empty_like(a)
    best = np.empty_like(a)
    loss = np.empty_like(a)
    for start in range(0, a.shape[0], CHUNK):
        part = slice(start, start + CHUNK)
        beat[part], best[part], loss[part] = _compare_chunk(a[part], b[part], control)
    beat[:, control] = 0.5
    np.clip(beat, 0.0, 1.0, out=beat)
    np.clip(best, 0.0, 1.0, out=best)
    np.maximum(loss, 0.0, out=loss)
    return beat, best, loss


def _compare_chunk(
    a: FloatArray, b: FloatArray, control: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    rows = a.shape[0]
    edges = np.sort(breakpoints(a, b).reshape(rows, -1), axis=-1)
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
    return beat, best, expected_max[:, None] - mean


def uplift_interval(
    a: FloatArray, b: FloatArray, control: int = 0, level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed ``level`` credible interval of ``p_i / p_control − 1`` per arm (B, k);
    the control's own is (0, 0)."""
    problems, arms = a.shape
    low = np.zeros_like(a)
    high = np.zeros_like(a)
    treatments = [i for i in range(arms) if i != control]
    if not treatments or problems == 0:
        return low, high
    # Every distinct posterior is tabulated once; every distinct comparison (all empty
    # segments are the same one) is solved once.
    posteriors, arm_index = np.unique(
        np.stack([a.ravel(), b.ravel()], axis=-1), axis=0, return_inverse=True
    )
    arm_index = arm_index.reshape(problems, arms)
    pairs, pair_index = np.unique(
        np.stack(
            [arm_index[:, treatments].ravel(), np.repeat(arm_index[:, control], len(treatments))],
            axis=-1,
        ),
        axis=0,
        return_inverse=True,
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
        solver = _LogRatio(posteriors[needed, 0], posteriors[needed, 1], local[:, 0], local[:, 1])
        ell[chunk] = solver.quantiles(probabilities)
    uplift = np.expm1(ell)[pair_index.reshape(-1)].reshape(problems, len(treatments), 2)
    low[:, treatments] = uplift[..., 0]
    high[:, treatments] = uplift[..., 1]
    return low, high


class _LogRatio:
    """The distribution of ``L = log p_i − log p_c`` for pairs of tabulated posteriors.

    With ``u = log p``, ``h``/``H``/``S`` its density/CDF/survival function:
    treatment narrower: ``Q(ℓ) = ∫ h_c(u − ℓ) H_i(u) du + P(log p_c > u_end − ℓ)``;
    control narrower:   ``Q(ℓ) = ∫ h_i(u + ℓ) S_c(u) du + P(log p_i < u_start + ℓ)``,
    the integrals over the narrow arm's own grid (``u_start``..``u_end``). On the logit
    scale ``du = (1 − x) dt``, and ``Q'(ℓ)`` is the same integral with the narrow
    density ``g(t) dt`` in place of ``H du``.
    """

    def __init__(
        self, a: FloatArray, b: FloatArray, treatment: IndexArray, control: IndexArray
    ) -> None:
        tables = tabulate(a[:, None], b[:, None], breakpoints(a, b, FINE_CORE, FINE_TAIL))
        self.tables = tables
        # Var(log p) ≈ 1/a − 1/(a + b): tabulate the narrower, shift the wider.
        spread_sq = 1.0 / a - 1.0 / (a + b)
        self.treatment_narrow = spread_sq[treatment] <= spread_sq[control]
        tn = self.treatment_narrow
        self.narrow = np.where(tn, treatment, control)
        self.wide = np.where(tn, control, treatment)
        self.a, self.b = a, b
        self.treatment, self.control = treatment, control
        self.sign = np.where(tn, -1.0, 1.0)
        narrow = self.narrow
        cdf = tables.cdf[narrow, 0]
        tabulated = np.where(tn[:, None], cdf, 1.0 - cdf)
        self.x = np.exp(tables.log_p[narrow])
        self.cdf_weight = tables.weight[narrow] * np.exp(tables.log_q[narrow]) * tabulated
        self.density_weight = tables.weight[narrow] * tables.density[narrow, 0]
        self.a_w = a[self.wide]
        self.b_w = b[self.wide]
        self.wide_log_x = self.a_w[:, None] * tables.log_p[narrow]
        self.log_norm_w = tables.log_norm[self.wide, 0]
        edges = tables.edges
        self.x_start = np.exp(log_x(edges[narrow, 0])[0])
        self.x_end = np.exp(log_x(edges[narrow, -1])[0])
        self.wide_start = edges[self.wide, 0]
        self.wide_end = edges[self.wide, -1]
        # Cumulants of L from the tables: those of log p_i minus (odd) / plus (even)
        # those of log p_c. They only seed the Newton iteration.
        mass = tables.weight * tables.density[:, 0]
        u = tables.log_p
        mean = np.einsum("rn,rn->r", mass, u)
        centred = u - mean[:, None]
        second = np.einsum("rn,rn->r", mass, centred * centred)
        third = np.einsum("rn,rn->r", mass, centred * centred * centred)
        self.k1 = mean[treatment] - mean[control]
        k2 = second[treatment] + second[control]
        self.spread = np.sqrt(k2)
        self.skew = (third[treatment] - third[control]) / k2**1.5

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
        node_interval = np.repeat(np.arange(edges.shape[1] - 1), ORDER)
        dropped = np.where(node_interval[None, :] >= interval[:, None], h[which], 0.0)
        q[which] -= np.einsum("rn,rn->r", self.cdf_weight[pair], dropped)
        d[which] -= np.einsum("rn,rn->r", self.density_weight[pair], dropped)
        half = (t_cut - start) / 2.0
        t = (start + half)[:, None] + half[:, None] * NODES
        weight = half[:, None] * WEIGHTS
        log_p, log_q = log_x(t)
        a_n, b_n = self.a[narrow, None], self.b[narrow, None]
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
        ell = self.k1[rows] + spread * (z + (z * z - 1.0) * self.skew[rows] / 6.0)
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
            # Halley's error cubes each step: one that moved less than 1e-4 spreads
            # leaves an error of order 1e-12 spreads.
            done = halley & (moved <= 1e-4 * spread[active])
            active = active[~done]
        result: FloatArray = ell.reshape(pairs, count)
        return result
