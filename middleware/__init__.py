"""daypart.middleware: the ASGI middleware, conversions from code, the admin app and the CLI.

from daypart.middleware import AdaptiveMiddleware
app.add_middleware(AdaptiveMiddleware, rules="rules.yaml", store="redis://localhost:6379/0")
"""

from daypart.middleware.asgi import AdaptiveMiddleware
from daypart.middleware.conversions import convert, decision_of
from daypart.middleware.decision import Decision
from daypart.middleware.runtime import Settings

__all__ = ["AdaptiveMiddleware", "Decision", "Settings", "convert", "decision_of"]
