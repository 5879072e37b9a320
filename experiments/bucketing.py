"""Bucketing: deterministic hashing of visitors into an experiment's traffic and arms, no
store involved.

A visitor's place in an experiment is a pure function of (visitor id, salt), so every
worker on every host agrees without asking anyone, and the request path does no I/O.

Two independent *dimensions* are hashed for the same visitor and salt:

- ``"traffic"`` decides whether the visitor is inside the rollout: in when the bucket is
  below the stage's share. Raising the share from 5% to 25% only adds visitors.
- ``"arm"`` decides the arm. Because it is a different hash, the arm never depends on the
  traffic share: a visitor who entered at 5% keeps the arm they had.

The hash is BLAKE2b (``hashlib.blake2b``, 8-byte digest), chosen because

- it is specified (RFC 7693) and ships with CPython itself, not through OpenSSL, so it
  gives the same bits on every host, process, platform and Python version (unlike the
  built-in ``hash()``, which is salted per process), and it is not disabled on FIPS builds
  as MD5 can be;
- a cryptographic hash is uniform and shows no correlation between dimensions or
  between similar ids, which the chi-square tests in ``tests/experiments`` confirm;
- it is the fastest of hashlib's candidates for short inputs, and cheap next to the rest
  of a request: ``bucket`` takes about 0.48 µs per call on a shared 2-core machine
  (CPython 3.11; a hasher that already absorbed the (dimension, salt) prefix is copied
  per call), against 0.64 µs hashing everything afresh with blake2b, 0.69 µs with
  sha256 and 0.73 µs with md5. Measured together in one later run on a busier machine:
  ``bucket`` 0.58 µs, ``in_rollout`` 1.19 µs, the ``ArmPicker.pick`` a policy keeps per
  experiment 1.03 µs, and ``choose_arm``, which builds a picker each call, 2.8 µs.

The encoding below (lengths before names) must never change: it would reshuffle every
visitor of every running experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from daypart.rules.model import Audience

ARM = "arm"
TRAFFIC = "traffic"

_SCALE = 1.0 / (1 << 53)  # 53 bits: every value maps to a distinct float in [0, 1)
_MAX_CACHED_PREFIXES = 4096  # experiments × dimensions; a bound against runaway salts

# blake2b with the (dimension, salt) prefix already absorbed; copying it is cheaper than
# hashing the prefix again on every request.
_prefixes: dict[tuple[str, str], hashlib.blake2b] = {}


def _prefix(dimension: str, salt: str) -> hashlib.blake2b:
    hasher = _prefixes.get((dimension, salt))
    if hasher is None:
        if len(_prefixes) >= _MAX_CACHED_PREFIXES:
            _prefixes.clear()
        # Length-prefixed fields, so ("a:b", "c") and ("a", "b:c") cannot collide.
        material = f"{len(dimension)}:{dimension}{len(salt)}:{salt}".encode()
        hasher = hashlib.blake2b(material, digest_size=8)
        _prefixes[(dimension, salt)] = hasher
    return hasher


def bucket(visitor_id: str, salt: str, dimension: str) -> float:
    """A stable, uniform point in [0, 1) for this visitor, salt and dimension."""
    hasher = _prefix(dimension, salt).copy()
    hasher.update(visitor_id.encode("utf-8", "surrogatepass"))  # total over any str
    return (int.from_bytes(hasher.digest(), "big") >> 11) * _SCALE


def choose_arm(visitor_id: str, salt: str, weights: Sequence[float]) -> int:
    """The index of the visitor's arm; arms get visitors in proportion to ``weights``."""
    return ArmPicker(salt, weights).pick(visitor_id)


class ArmPicker:
    """``choose_arm`` for one salt and set of weights, with the weights checked and summed
    once: an experiment's policy keeps one, since it runs for every new visitor. The same
    float arithmetic in the same order as ever, so no visitor changes arm."""

    __slots__ = ("_bounds", "_last", "_prefix", "_total")

    def __init__(self, salt: str, weights: Sequence[float]) -> None:
        total = 0.0
        for weight in weights:
            if not weight >= 0.0:  # also refuses NaN
                raise ValueError(f"arm weights must be >= 0, got {weight!r}")
            total += weight
        if not 0.0 < total < float("inf"):
            raise ValueError("arm weights must have a positive, finite sum")
        bounds = []
        cumulative = 0.0
        for index, weight in enumerate(weights):
            if weight > 0.0:
                cumulative += weight
                bounds.append((cumulative, index))
        self._bounds = tuple(bounds)
        self._last = bounds[-1][1]  # rounding left the point at the very top: this arm
        self._total = total
        self._prefix = _prefix(ARM, salt)

    def pick(self, visitor_id: str) -> int:
        hasher = self._prefix.copy()
        hasher.update(visitor_id.encode("utf-8", "surrogatepass"))
        point = (int.from_bytes(hasher.digest(), "big") >> 11) * _SCALE * self._total
        for bound, index in self._bounds:
            if point < bound:
                return index
        return self._last


def in_rollout(visitor_id: str, salt: str, traffic: float) -> bool:
    """Whether the visitor is inside a rollout that includes ``traffic`` (0..1) of all."""
    if traffic >= 1.0:
        return True
    if traffic <= 0.0:
        return False
    return bucket(visitor_id, salt, TRAFFIC) < traffic


def _matches(wanted: Mapping[str, frozenset[str]], actual: Mapping[str, str]) -> bool:
    for name, values in wanted.items():
        value = actual.get(name)
        if value is None or ("*" not in values and value not in values):
            return False
    return True


def audience_matches(
    audience: Audience,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
) -> bool:
    """Whether a request belongs to an audience stage: every given matcher must match.

    Header names are lower-case on both sides (the loader and ASGI see to that); a value
    set holding ``"*"`` means "present, with any value".
    """
    return (
        _matches(audience.header, headers)
        and _matches(audience.cookie, cookies)
        and _matches(audience.query, query)
    )
