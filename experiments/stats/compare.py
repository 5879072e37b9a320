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
beyond that grid is a single ``betainc``. Quantiles of ``L`` are found by a safeguarded
Newton iteration (the derivative ``Q'(ℓ)`` is the same integral with the density in place
of the CDF) started from a Cornish–Fisher estimate with the exact cumulants of ``L``
(polygamma functions). Where the shifted density is cut off at ``p = 1`` within the grid
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
    log_x,
    tabulate,
)

CHUNK = 8
"""Problems per vectorised chunk (measured: 8 is the fastest on a 4-arm report)."""

_SMOOTH_CUT_B = 12.0  # (1 - x)**(b - 1) vanishes to order 11 or more: no special treatment
_NEWTON_LIMIT = 60


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
    a_t = a[:, treatments].ravel()
    b_t = b[:, treatments].ravel()
    a_c = np.repeat(a[:, control], len(treatments))
    b_c = np.repeat(b[:, control], len(treatments))
    # Identical comparisons (every empty segment, say) are solved once.
    pairs, inverse = np.unique(np.stack([a_t, b_t, a_c, b_c], axis=-1), axis=0, return_inverse=True)
    tail = (1.0 - level) / 2.0
    solver = _LogRatio(pairs[:, 0], pairs[:, 1], pairs[:, 2], pairs[:, 3])
    inverse = inverse.reshape(-1)
    low[:, treatments] = np.expm1(solver.quantile(tail))[inverse].reshape(problems, -1)
    high[:, treatments] = np.expm1(solver.quantile(1.0 - tail))[inverse].reshape(problems, -1)
    return low, high


class _LogRatio:
    """The distribution of ``L = log p_i − log p_c`` for a batch of pairs."""

    def __init__(self, a_i: FloatArray, b_i: FloatArray, a_c: FloatArray, b_c: FloatArray):
        self.a_i, self.b_i, self.a_c, self.b_c = a_i, b_i, a_c, b_c
        # Tabulate the arm whose log-rate is narrower (Var(log p) ≈ 1/a − 1/(a+b)).
        self.narrow_is_treatment = 1.0 / a_i - 1.0 / (a_i + b_i) <= 1.0 / a_c - 1.0 / (a_c + b_c)
        nt = self.narrow_is_treatment
        self.a_n = np.where(nt, a_i, a_c)
        self.b_n = np.where(nt, b_i, b_c)
        self.a_w = np.where(nt, a_c, a_i)
        self.b_w = np.where(nt, b_c, b_i)
        self.betaln_n = special.betaln(self.a_n, self.b_n)
        self.betaln_w = special.betaln(self.a_w, self.b_w)
        # Treatment narrow: Q(ℓ) = ∫ h_c(u − ℓ) H_i(u) du + P(log p_c > u_end − ℓ).
        # Control narrow:   Q(ℓ) = ∫ h_i(u + ℓ) S_c(u) du + P(log p_i < u_start + ℓ).
        self.sign = np.where(nt, -1.0, 1.0)
        edges = breakpoints(self.a_n, self.b_n, FINE_CORE, FINE_TAIL)
        tables = tabulate(self.a_n[:, None], self.b_n[:, None], edges)
        cdf = tables.cdf[:, 0]
        tabulated = np.where(nt[:, None], cdf, 1.0 - cdf)
        self.u = tables.log_p
        # du = (1 − x) dt; Q's integrand carries the CDF, Q''s the narrow density.
        self.cdf_weight = tables.weight * np.exp(tables.log_q) * tabulated
        self.density_weight = tables.weight * tables.density[:, 0]
        self.edges = edges
        self.x_start = np.exp(log_x(edges[:, 0])[0])
        self.x_end = np.exp(log_x(edges[:, -1])[0])
        n_i, n_c = a_i + b_i, a_c + b_c
        self.k1 = special.digamma(a_i) - special.digamma(n_i) - special.digamma(a_c)
        self.k1 += special.digamma(n_c)
        self.k2 = special.polygamma(1, a_i) - special.polygamma(1, n_i)
        self.k2 += special.polygamma(1, a_c) - special.polygamma(1, n_c)
        k3 = special.polygamma(2, a_i) - special.polygamma(2, n_i)
        k3 -= special.polygamma(2, a_c) - special.polygamma(2, n_c)
        self.skew = k3 / self.k2**1.5

    def _shifted_density(self, rows: IndexArray, log_rate: FloatArray) -> FloatArray:
        """Density of the wide arm's ``log p`` at ``log_rate`` (rows × nodes); 0 at or
        above 0 (p ≥ 1)."""
        inside = log_rate < 0.0
        safe = np.where(inside, log_rate, -1.0)
        a_w = self.a_w[rows, None]
        log_h = a_w * safe + (self.b_w[rows, None] - 1.0) * np.log1p(-np.exp(safe))
        log_h -= self.betaln_w[rows, None]
        result: FloatArray = np.where(inside, np.exp(log_h), 0.0)
        return result

    def cdf_and_density(
        self, rows: IndexArray, ell: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """``Q(ℓ)`` and ``Q'(ℓ)`` for the pairs ``rows`` at ``ℓ`` (one per row)."""
        shift = self.sign[rows] * ell
        h = self._shifted_density(rows, self.u[rows] + shift[:, None])
        cut = (shift > 0.0) & (self.b_w[rows] <= _SMOOTH_CUT_B)
        extra_q = np.zeros_like(ell)
        extra_d = np.zeros_like(ell)
        if cut.any():
            self._integrate_to_cut(rows, shift, cut, h, extra_q, extra_d)
        q = np.einsum("rn,rn->r", self.cdf_weight[rows], h) + extra_q
        d = np.einsum("rn,rn->r", self.density_weight[rows], h) + extra_d
        nt = self.narrow_is_treatment[rows]
        beyond_end = 1.0 - special.betainc(
            self.a_c[rows], self.b_c[rows], np.minimum(1.0, self.x_end[rows] * np.exp(-ell))
        )
        before_start = special.betainc(
            self.a_i[rows], self.b_i[rows], np.minimum(1.0, self.x_start[rows] * np.exp(ell))
        )
        q += np.where(nt, beyond_end, before_start)
        return q, d

    def _integrate_to_cut(
        self,
        rows: IndexArray,
        shift: FloatArray,
        cut: BoolArray,
        h: FloatArray,
        extra_q: FloatArray,
        extra_d: FloatArray,
    ) -> None:
        """The shifted density drops to zero where the shifted rate reaches 1; with few
        failures it does so abruptly, which no polynomial rule integrates well. Drop the
        interval containing that point and integrate it again up to the point."""
        which = np.flatnonzero(cut)
        t_cut = -np.log(np.expm1(shift[which]))  # logit(exp(−shift))
        edges = self.edges[rows[which]]
        inside = (t_cut > edges[:, 0]) & (t_cut < edges[:, -1])
        which, t_cut, edges = which[inside], t_cut[inside], edges[inside]
        if which.size == 0:
            return
        pair = rows[which]
        interval = (edges < t_cut[:, None]).sum(axis=-1) - 1
        start = edges[np.arange(which.size), interval]
        node_interval = np.repeat(np.arange(edges.shape[1] - 1), ORDER)
        h[which] = np.where(node_interval[None, :] >= interval[:, None], 0.0, h[which])
        half = (t_cut - start) / 2.0
        t = (start + half)[:, None] + half[:, None] * NODES
        weight = half[:, None] * WEIGHTS
        log_p, log_q = log_x(t)
        a_n, b_n = self.a_n[pair, None], self.b_n[pair, None]
        density = np.exp(a_n * log_p + b_n * log_q - self.betaln_n[pair, None])
        cdf = special.betainc(a_n, b_n, np.exp(log_p))
        tabulated = np.where(self.narrow_is_treatment[pair, None], cdf, 1.0 - cdf)
        h_cut = self._shifted_density(pair, log_p + shift[which, None])
        extra_q[which] = np.einsum("rn,rn->r", weight * np.exp(log_q) * tabulated, h_cut)
        extra_d[which] = np.einsum("rn,rn->r", weight * density, h_cut)

    def quantile(self, probability: float) -> FloatArray:
        """The ``probability`` quantile of ``L`` for every pair."""
        z = float(special.ndtri(probability))
        spread = np.sqrt(self.k2)
        ell = self.k1 + spread * (z + (z * z - 1.0) * self.skew / 6.0)
        low = self.k1 - 80.0 * spread - 50.0
        high = self.k1 + 80.0 * spread + 50.0
        active = np.arange(ell.size)
        for _ in range(_NEWTON_LIMIT):
            if active.size == 0:
                break
            current = ell[active]
            q, d = self.cdf_and_density(active, current)
            error = q - probability
            low[active] = np.where(error < 0.0, current, low[active])
            high[active] = np.where(error >= 0.0, current, high[active])
            with np.errstate(divide="ignore", invalid="ignore"):
                step = current - error / d
            # Newton unless it leaves the bracket (or the density underflowed): bisect.
            outside = ~np.isfinite(step) | (step < low[active]) | (step > high[active])
            step = np.where(outside, (low[active] + high[active]) / 2.0, step)
            solved = np.abs(error) < 1e-15
            step = np.where(solved, current, step)
            moved = np.abs(step - current)
            ell[active] = step
            done = solved | (moved <= 1e-10 * spread[active] + 1e-14)
            active = active[~done]
        return ell
