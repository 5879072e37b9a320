"""The middleware's background work: flushing records, reloading rules, following the
rollout state in the store, and (on one worker at a time) evaluating the gates.

Started by the ASGI lifespan, or lazily by the first request on servers that do not run
the lifespan. Nothing here runs on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from daypart.experiments.state import RolloutState
from daypart.rules.errors import RulesError, StoreError
from daypart.rules.loader import load_rules

if TYPE_CHECKING:
    from daypart.middleware.asgi import AdaptiveMiddleware

logger = logging.getLogger("daypart")

SHUTDOWN_FLUSH_SECONDS = 5.0


class Background:
    def __init__(
        self,
        middleware: AdaptiveMiddleware,
        *,
        reload_interval: float,
        state_interval: float,
        evaluate_interval: float | None,
    ) -> None:
        self.middleware = middleware
        self.reload_interval = reload_interval
        self.state_interval = state_interval
        self.evaluate_interval = evaluate_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rules_stamp: tuple[int, int] | None = self._stamp()
        self.evaluator: Callable[[], Awaitable[None]] | None = None

    def ensure_started(self) -> None:
        """Start on the running loop if not yet running there (cheap when running)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._spawn(loop)

    async def start(self) -> None:
        await self.refresh_states()
        self._spawn(asyncio.get_running_loop())

    def _spawn(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        middleware = self.middleware
        self._tasks = [loop.create_task(middleware.recorder.run(), name="daypart-flush")]
        self._tasks.append(loop.create_task(self._every(self.state_interval, self.refresh_states)))
        if middleware.rules_path is not None and self.reload_interval > 0:
            self._tasks.append(loop.create_task(self._every(self.reload_interval, self.reload)))
        if self.evaluate_interval and self.evaluator is not None:
            self._tasks.append(
                loop.create_task(self._every(self.evaluate_interval, self.evaluator))
            )

    async def stop(self) -> None:
        tasks, self._tasks, self._loop = self._tasks, [], None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await asyncio.wait_for(self.middleware.recorder.flush(), SHUTDOWN_FLUSH_SECONDS)
        except (StoreError, TimeoutError) as exc:
            logger.error(
                "daypart: %d records could not be written at shutdown (%s)",
                self.middleware.recorder.pending,
                exc,
            )
        await self.middleware.store.close()

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:  # a failing job must not stop the others or the site
                logger.exception("daypart: background job %s failed", job.__name__)

    # -- jobs -----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        path = self.middleware.rules_path
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def force_reload(self) -> None:
        """Make the next ``reload`` read the file even if it looks unchanged."""
        self._rules_stamp = None

    async def reload(self) -> bool:
        """Load the rule file if it changed. A broken file keeps the last good rules."""
        path = self.middleware.rules_path
        stamp = self._stamp()
        if path is None or stamp == self._rules_stamp:
            return False
        self._rules_stamp = stamp
        try:
            ruleset = await asyncio.to_thread(load_rules, path)
        except RulesError as exc:
            self.middleware.rules_error = str(exc)
            logger.error(
                "daypart: %s not reloaded, the last good rules keep serving:\n%s", path, exc
            )
            return False
        except OSError as exc:
            self.middleware.rules_error = f"{path}: {exc}"
            logger.error("daypart: %s could not be read: %s", path, exc)
            return False
        self.middleware.swap_rules(ruleset)
        logger.info("daypart: rules reloaded from %s", path)
        return True

    async def refresh_states(self) -> None:
        middleware = self.middleware
        states: dict[str, RolloutState] = {}
        for name in middleware.engine.experiments:
            try:
                raw = await middleware.store.get_state(name)
            except StoreError as exc:
                logger.debug("daypart: rollout state not refreshed: %s", exc)
                return  # keep serving the states we know
            if raw is not None:
                try:
                    states[name] = RolloutState.from_dict(raw)
                except (ValueError, TypeError) as exc:
                    logger.error("daypart: ignoring bad rollout state of %s: %s", name, exc)
        middleware.states = states
