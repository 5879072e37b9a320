"""One arm's conversion rate: the Beta-Binomial posterior and its credible interval.

Model: ``conversions ~ Binomial(visitors, p)`` with a uniform Beta(1, 1) prior on ``p``, so
the posterior is ``Beta(1 + conversions, 1 + visitors − conversions)``; its mean is the
reported rate. With no visitors the posterior is the prior itself (mean 0.5, interval
0.025–0.975).

The equal-tailed credible interval is found on the logit scale by Halley's method on
``I_x(a, b) − q`` with SciPy's regularized incomplete beta function (``betainc``, the
same function behind ``scipy.stats.beta.cdf``) and the exact density and its derivative,
started from a Cornish–Fisher estimate with the exact cumulants of ``logit(p)``
(``ψ(a) − ψ(b)``, ``ψ'(a) + ψ'(b)``, ``ψ''(a) − ψ''(b)``). Two or three steps reach
double precision; it is vectorised and about ten times cheaper than ``betaincinv`` for
large counts, with which it agrees to 1e-12.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from daypart.experiments.stats._grid import FloatArray, log_x

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
    return beta_quantile(a, b, tail), beta_quantile(a, b, 1.0 - tail)


def beta_quantile(a: FloatArray, b: FloatArray, probability: float) -> FloatArray:
    """The ``probability`` quantile of ``Beta(a, b)``, elementwise."""
    shape = np.shape(a)
    flat_a = np.asarray(a, dtype=float).reshape(-1)
    flat_b = np.asarray(b, dtype=float).reshape(-1)
    pairs, inverse = np.unique(np.stack([flat_a, flat_b], axis=-1), axis=0, return_inverse=True)
    t = _logit_quantile(pairs[:, 0], pairs[:, 1], probability)
    result: FloatArray = np.exp(log_x(t)[0])[inverse.reshape(-1)].reshape(shape)
    return result


def _logit_quantile(a: FloatArray, b: FloatArray, probability: float) -> FloatArray:
    z = float(special.ndtri(probability))
    mean = special.digamma(a) - special.digamma(b)
    spread = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    skew = (special.polygamma(2, a) - special.polygamma(2, b)) / spread**3
    t = mean + spread * (z + (z * z - 1.0) * skew / 6.0)
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
        error = special.betainc(aa, bb, np.exp(log_p)) - probability
        low[active] = np.where(error < 0.0, current, low[active])
        high[active] = np.where(error >= 0.0, current, high[active])
        density = np.exp(aa * log_p + bb * log_q - lbeta[active])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = error / density
            curvature = aa - (aa + bb) * np.exp(log_p)  # (d density / dt) / density
            step = current - newton / (1.0 - 0.5 * newton * curvature)
        outside = ~np.isfinite(step) | (step < low[active]) | (step > high[active])
        step = np.where(outside, (low[active] + high[active]) / 2.0, step)
        solved = error == 0.0
        step = np.where(solved, current, step)
        moved = np.abs(step - current)
        t[active] = step
        # Halley's error cubes each step: one that moved less than 1e-4 spreads leaves
        # an error of order 1e-12 spreads.
        done = solved | ~outside & (moved <= 1e-4 * spread[active])
        active = active[~done]
    return t
