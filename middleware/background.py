"""The middleware's background work: flushing records, reloading rules, following the
rollout state in the store, and (on one worker at a time) evaluating the gates.

Started by the ASGI lifespan, or lazily by the first request on servers that do not run
the lifespan. Nothing here runs on the request path.

A store that is down is reported to the recorder's ``StoreOutage`` (one line when it goes
down, a summary every few minutes, one when it is back), never logged per attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from daypart.experiments.state import RolloutState
from daypart.experiments.store.errors import StoreError
from daypart.middleware.runtime import Runtime
from daypart.rules.errors import RulesError
from daypart.rules.loader import load_rules

logger = logging.getLogger("daypart")

SHUTDOWN_FLUSH_SECONDS = 5.0
STOP_SECONDS = 10.0  # how long stop() waits for the jobs to end before giving up on them
RECANCEL_SECONDS = 0.2  # how often a job that is still running is cancelled again


async def stop_tasks(tasks: Sequence[asyncio.Task[None]], within: float = STOP_SECONDS) -> int:
    """Cancel ``tasks`` and wait for them to end; return how many did not end ``within``
    seconds.

    A single ``cancel()`` is not enough: on Python 3.11, ``asyncio.wait_for`` (which
    redis-py wraps around every command when a socket timeout is set) can swallow a
    cancellation that arrives just as the command completes (CPython gh-86296, fixed in
    3.12), and the job goes on as if nothing happened. So a job still running is cancelled
    again every ``RECANCEL_SECONDS`` until it ends or the time is up, and stop() never
    waits forever on one. The jobs' own loops also end on ``Background._running``."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, left))
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            logger.error(
                "daypart: background job %s failed", task.get_name(), exc_info=task.exception()
            )
    return len(pending)


class Background:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False  # the jobs' loops end when this is cleared (see stop_tasks)
        self._rules_stamp: tuple[int, int] | None = self._stamp()
        # The digest of a file that failed to load: while the rules are broken, a file
        # rewritten within the same mtime tick and at the same size is still retried.
        self._failed_digest: bytes | None = None

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
        self._running = True
        runtime = self.runtime
        settings = runtime.settings
        self._tasks = [loop.create_task(runtime.recorder.run(), name="daypart-flush")]
        self._tasks.append(
            loop.create_task(self._every(settings.state_interval, self.refresh_states))
        )
        if runtime.rules_path is not None and settings.reload_interval > 0:
            self._tasks.append(loop.create_task(self._every(settings.reload_interval, self.reload)))
        if settings.evaluate_interval:
            self._tasks.append(
                loop.create_task(self._every(settings.evaluate_interval, self.evaluate))
            )

    async def stop(self) -> None:
        tasks, self._tasks, self._loop = self._tasks, [], None
        self._running = False
        recorder = self.runtime.recorder
        recorder.stop()
        left = await stop_tasks(tasks)
        if left:
            logger.error(
                "daypart: %d background jobs did not stop within %.0f s", left, STOP_SECONDS
            )
        try:
            await asyncio.wait_for(recorder.flush(), SHUTDOWN_FLUSH_SECONDS)
        except (StoreError, TimeoutError) as exc:
            logger.error(
                "daypart: %d records could not be written at shutdown (%s)", recorder.pending, exc
            )
        await self.runtime.store.close()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while self._running:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:  # a failing job must not stop the others or the site
                logger.exception("daypart: background job %s failed", job.__name__)

    # -- jobs -----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        path = self.runtime.rules_path
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

    def _digest(self) -> bytes | None:
        path = self.runtime.rules_path
        try:
            return None if path is None else hashlib.blake2b(path.read_bytes()).digest()
        except OSError:
            return None

    async def reload(self) -> bool:
        """Load the rule file if it changed. A broken file keeps the last good rules; the
        next change is tried again."""
        runtime = self.runtime
        path = runtime.rules_path
        stamp = self._stamp()
        if path is None:
            return False
        unchanged = stamp == self._rules_stamp
        if unchanged and (self._failed_digest is None or self._digest() == self._failed_digest):
            return False
        self._rules_stamp = stamp
        self._failed_digest = None
        try:
            ruleset = await asyncio.to_thread(load_rules, path)
            runtime.serve(ruleset)
        except RulesError as exc:
            self._failed_digest = self._digest()
            runtime.rules_error = str(exc)
            runtime.counters.reload_errors += 1
            cause = exc.__cause__
            logger.error(
                "daypart: %s not reloaded, the last good rules keep serving:\n%s",
                path,
                exc,
                # a compiler failure's traceback helps whoever reports it; a typo's does not
                exc_info=exc if cause is not None and not isinstance(cause, OSError) else None,
            )
            return False
        except OSError as exc:
            runtime.rules_error = f"{path}: {exc}"
            runtime.counters.reload_errors += 1
            logger.error("daypart: %s could not be read: %s", path, exc)
            return False
        except Exception as exc:  # anything else failing in loading or compiling
            self._failed_digest = self._digest()
            runtime.rules_error = f"{path}: {type(exc).__name__}: {exc}"
            runtime.counters.reload_errors += 1
            logger.exception("daypart: %s not reloaded, the last good rules keep serving", path)
            return False
        runtime.counters.reloads += 1
        logger.info("daypart: rules reloaded from %s", path)
        return True

    async def refresh_states(self) -> None:
        runtime = self.runtime
        outage = runtime.recorder.outage
        states: dict[str, RolloutState] = {}
        for name in runtime.rules.policies.by_name:
            try:
                raw = await runtime.store.get_state(name)
            except StoreError as exc:
                runtime.counters.state_read_errors += 1
                outage.failed(exc, "reading rollout states")
                return  # keep serving the states we know
            outage.succeeded()
            if raw is not None:
                try:
                    states[name] = RolloutState.from_dict(raw)
                except (ValueError, TypeError) as exc:
                    logger.error("daypart: ignoring bad rollout state of %s: %s", name, exc)
        # The same dict while nothing changed: the request path's decision cache is valid
        # as long as the states dict in force is the same object.
        if states != runtime.states:
            runtime.states = states

    async def evaluate(self) -> None:
        """Run the gates once (if this worker holds the evaluator lock) and follow them."""
        runtime = self.runtime
        counters = runtime.counters
        outage = runtime.recorder.outage
        try:
            evaluations = await runtime.evaluator.run_once(runtime.rules.ruleset)
        except StoreError as exc:  # the gates wait for the store; no traceback a minute
            counters.evaluated("failed")
            outage.failed(exc, "running the gates")
            return
        except Exception:
            counters.evaluated("failed")
            raise
        outage.succeeded()
        if evaluations is None:
            counters.evaluated("skipped")  # another worker holds the evaluator lock
            return
        counters.evaluated("ran", [(e.decision.verdict, e.applied) for e in evaluations])
        if any(e.applied for e in evaluations):
            await self.refresh_states()
