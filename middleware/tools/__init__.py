"""The ``daypart`` command line (``cli``) and what it runs: ``explain``, ``simulate`` and
the travel ``demo``."""
