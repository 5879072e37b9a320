"""Consent: a visitor who sends ``DNT: 1`` or ``Sec-GPC: 1`` still gets the adaptive rules'
variants (device and time need no tracking) but is never put in an experiment, gets no
visitor cookie and is never counted — not by pages, not by the beacon."""

from __future__ import annotations


def opted_out(dnt: str | None, gpc: str | None) -> bool:
    """From the ``DNT`` and ``Sec-GPC`` header values (None when absent)."""
    return (dnt is not None and dnt.strip() == "1") or (gpc is not None and gpc.strip() == "1")
