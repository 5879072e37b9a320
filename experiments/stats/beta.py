"""One arm's conversion rate: the Beta-Binomial posterior and its credible interval.

Model: ``conversions ~ Binomial(visitors, p)`` with a uniform Beta(1, 1) prior on ``p``, so
the posterior is ``Beta(1 + conversions, 1 + visitors − conversions)``; its mean is the
reported rate. With no visitors the posterior is the prior itself (mean 0.5, interval
0.025–0.975).

The equal-tailed credible interval is found on the logit scale by Halley's method on
``I_x(a, b) − q`` with SciPy's regularized incomplete beta function (``betainc``, the
same function behind ``scipy.stats.beta.cdf``) and the exact density and its derivative,
started from a Cornish–Fisher estimate with the exact cumulants of ``logit(p)``
(``ψ(a) − ψ(b)``, ``ψ⁽¹⁾(a) + ψ⁽¹⁾(b)``, ...) to the fourth. It stops once a step moves
less than 1e-3 of the posterior's width, which Halley's cubic convergence turns into an
error below 1e-9 of the width; it is vectorised and for large counts about ten times
cheaper than ``betaincinv`` (5-10 µs an element there), with which it agrees.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from daypart.experiments.stats._grid import FloatArray, log_x, polygammas, unique_rows

CREDIBLE_LEVEL = 0.95
"""Probability inside every credible interval this package reports."""

_HALLEY_LIMIT = 40


def posterior(conversions: FloatArray, visitors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Beta posterior parameters ``(a, b)`` under the Beta(1, 1) prior."""
    return 1.0 + conversions, 1.0 + visitors - conversions


def posterior_mean(a: FloatArray, b: FloatArray) -> FloatArray:
    mean: FloatArray = a / (a + b)
    return mean


def credible_interval(
    a: FloatArray, b: FloatArray, level: float = CREDIBLE_LEVEL
) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed ``level`` credible interval of ``Beta(a, b)``, elementwise."""
    tail = (1.0 - level) / 2.0
    both = beta_quantiles(a, b, np.array([tail, 1.0 - tail]))
    return both[..., 0], both[..., 1]


def beta_quantiles(a: FloatArray, b: FloatArray, probabilities: FloatArray) -> FloatArray:
    """Quantiles of ``Beta(a, b)``: shape ``a.shape + probabilities.shape``."""
    shape = np.shape(a)
    flat = np.stack([np.ravel(a), np.ravel(b)], axis=-1).astype(float)
    pairs, inverse = unique_rows(flat)
    count = probabilities.size
    rows = np.repeat(np.arange(len(pairs)), count)
    t = _logit_quantiles(pairs[rows, 0], pairs[rows, 1], np.tile(probabilities, len(pairs)))
    x = np.exp(log_x(t)[0]).reshape(len(pairs), count)
    result: FloatArray = x[inverse].reshape((*shape, count))
    return result


def _logit_quantiles(a: FloatArray, b: FloatArray, probability: FloatArray) -> FloatArray:
    z = special.ndtri(probability)
    mean = special.digamma(a) - special.digamma(b)
    # The cumulants of logit(p) are ψ⁽ⁿ⁾(a) ± ψ⁽ⁿ⁾(b): a Cornish–Fisher start to the fourth.
    size = a.size
    both = polygammas(np.concatenate([a, b]))
    a1, a2, a3 = (p[:size] for p in both)
    b1, b2, b3 = (p[size:] for p in both)
    variance = a1 + b1
    spread = np.sqrt(variance)
    skew = (a2 - b2) / spread**3
    kurtosis = (a3 + b3) / (variance * variance)
    w = z + (z * z - 1.0) * skew / 6.0 + (z**3 - 3.0 * z) * kurtosis / 24.0
    w -= (2.0 * z**3 - 5.0 * z) * skew * skew / 36.0
    t: FloatArray = mean + spread * w
    low = np.full_like(t, -745.0)
    high = np.full_like(t, 745.0)
    lbeta = special.betaln(a, b)
    active = np.arange(t.size)
    for _ in range(_HALLEY_LIMIT):
        if active.size == 0:
            break
        current = t[active]
        aa, bb = a[active], b[active]
        log_p, log_q = log_x(current)
        x = np.exp(log_p)
        error = special.betainc(aa, bb, x) - probability[active]
        low[active] = np.where(error < 0.0, current, low[active])
        high[active] = np.where(error >= 0.0, current, high[active])
        # betaln only scales the step; the root is where betainc says.
        density = np.exp(aa * log_p + bb * log_q - lbeta[active])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = error / density
            curvature = aa - (aa + bb) * x  # (d density / dt) / density
            step = current - newton / (1.0 - 0.5 * newton * curvature)
        outside = ~np.isfinite(step) | (step < low[active]) | (step > high[active])
        step = np.where(outside, (low[active] + high[active]) / 2.0, step)
        solved = error == 0.0
        step = np.where(solved, current, step)
        moved = np.abs(step - current)
        t[active] = step
        # Halley's error cubes each step: one that moved less than 1e-3 spreads leaves
        # an error of order 1e-9 spreads.
        done = solved | ~outside & (moved <= 1e-3 * spread[active])
        active = active[~done]
    return t
