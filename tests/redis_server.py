"""Private, throw-away Redis servers for the test suite: one redis-server, or a Redis Cluster
of several.

The suite never touches the machine's own Redis: it starts its servers on free ports with
persistence off, each in a private temporary directory, and the outage and failover tests
stop, restart or kill those same instances. Only ``redis-server`` and ``redis-cli`` (Debian's
``redis-server`` package) are needed.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

CLUSTER_SLOTS = 16384


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nobody listens on now (all held open at once, so the OS
    cannot hand out the same one twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; .ci/run installs it with apt-get")
    return found


class RedisServer:
    def __init__(
        self,
        port: int | None = None,
        *,
        keep_data: bool = False,
        cluster_bus_port: int | None = None,
        cluster_node_timeout_ms: int = 15_000,
    ) -> None:
        self.executable = executable("redis-server")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="daypart-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        # keep_data: an append-only file in the private directory, so that a stop and start
        # (the outage test) finds the counts it had; the suite's server keeps nothing.
        self.keep_data = keep_data
        # A cluster node when given a bus port. Explicit, because the default (port + 10000)
        # passes 65535 for high ephemeral ports and the node then fails to start.
        self.cluster_bus_port = cluster_bus_port
        self.cluster_node_timeout_ms = cluster_node_timeout_ms

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _arguments(self) -> list[str]:
        arguments = [
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes" if self.keep_data else "no", "--appendfsync", "always"),
            *("--dir", str(self.dir), "--daemonize", "no", "--loglevel", "warning"),
            # In the private directory, for a post-mortem when a cluster test fails.
            *("--logfile", str(self.dir / "redis.log")),
        ]
        if self.cluster_bus_port is not None:
            arguments += [
                *("--cluster-enabled", "yes", "--cluster-port", str(self.cluster_bus_port)),
                *("--cluster-config-file", str(self.dir / "nodes.conf")),
                *("--cluster-node-timeout", str(self.cluster_node_timeout_ms)),
                # A replica's first full sync starts at once instead of after the default
                # 5 s wait for more replicas: the cluster is ready (and can fail over) sooner.
                *("--repl-diskless-sync-delay", "0"),
            ]
        return arguments

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, *self._arguments()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed to clients or replicas; a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=10,
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / "redis.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- Redis Cluster ------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """One line of ``CLUSTER NODES``: how one node sees another (or itself)."""

    id: str
    address: str  # host:port, without the bus port
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def healthy(self) -> bool:
        bad = {"fail", "fail?", "handshake", "noaddr"}
        return self.connected and not (self.flags & bad)

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


def parse_cluster_nodes(text: str) -> list[NodeView]:
    views = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        slots = []
        for item in fields[8:]:
            if item.startswith("["):  # a slot being migrated: none here
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        views.append(
            NodeView(
                id=fields[0],
                address=fields[1].split("@")[0],
                flags=frozenset(fields[2].split(",")),
                master_id=None if fields[3] == "-" else fields[3],
                connected=fields[7] == "connected",
                slots=tuple(slots),
            )
        )
    return views


def info_fields(text: str) -> dict[str, str]:
    """``CLUSTER INFO`` or ``INFO`` text as a dict (the raw text: redis-py parses the two
    differently across versions)."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


class RedisCluster:
    """A real Redis Cluster: ``masters`` masters with ``replicas`` replicas each, one
    ``redis-server --cluster-enabled yes`` process per node, created with
    ``redis-cli --cluster create`` and ready once every live node agrees that the cluster
    is ok, all slots are covered and every replica is in sync with its master."""

    def __init__(
        self, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 15_000
    ) -> None:
        self.masters = masters
        self.replicas = replicas
        count = masters * (1 + replicas)
        ports = free_ports(2 * count)
        self.nodes = [
            RedisServer(
                ports[i], cluster_bus_port=ports[count + i], cluster_node_timeout_ms=node_timeout_ms
            )
            for i in range(count)
        ]

    @property
    def url(self) -> str:
        """The store URL: one live node; the client discovers the rest."""
        return f"redis+cluster://{self.live()[0].address}"

    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.running]

    def node(self, address: str) -> RedisServer:
        return next(node for node in self.nodes if node.address == address)

    def start(self, timeout: float = 120.0) -> None:
        try:
            for node in self.nodes:
                node.start()
            created = subprocess.run(
                [
                    executable("redis-cli"),
                    "--cluster",
                    "create",
                    *(node.address for node in self.nodes),
                    *("--cluster-replicas", str(self.replicas), "--cluster-yes"),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}")
            self.wait_healthy(timeout, replicas_per_master=self.replicas)
        except BaseException:
            self.cleanup()
            raise

    def topology(self, via: RedisServer | None = None) -> list[NodeView]:
        """``CLUSTER NODES`` as one live node (``via``, or the first) sees it."""
        with (via or self.live()[0]).client() as client:
            return parse_cluster_nodes(str(client.execute_command("CLUSTER", "NODES")))

    def master_nodes(self) -> list[RedisServer]:
        """The masters serving slots now, in slot order."""
        views = sorted(
            (view for view in self.topology() if view.is_master and view.slots),
            key=lambda view: view.slots[0],
        )
        return [self.node(view.address) for view in views]

    def master_of(self, key: str) -> RedisServer:
        """The master serving ``key`` now: the slot as Redis itself computes it."""
        with self.live()[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        view = next(v for v in self.topology() if v.is_master and v.owns(slot))
        return self.node(view.address)

    def replica_of(self, master: RedisServer) -> RedisServer:
        views = self.topology()
        master_id = next(view.id for view in views if view.address == master.address)
        return next(self.node(v.address) for v in views if v.master_id == master_id)

    def move_slot(self, slot: int, target: RedisServer, timeout: float = 60.0) -> None:
        """Reshard one slot, keys and all, to the master ``target`` the way
        ``redis-cli --cluster reshard`` does: mark it importing and migrating, MIGRATE its
        keys (with their TTLs), hand it over on every master, and wait until every live
        node agrees. Clients still holding the old slot map get MOVED."""
        views = self.topology()
        owner = next(view for view in views if view.is_master and view.owns(slot))
        taker = next(view for view in views if view.address == target.address)
        source = self.node(owner.address)
        if source is target:
            return
        with target.client() as into, source.client() as out:
            into.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", owner.id)
            out.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", taker.id)
            while keys := out.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                out.execute_command(
                    "MIGRATE", "127.0.0.1", target.port, "", 0, 10_000, "KEYS", *keys
                )
        # The new owner first, then the old one, then the rest (as redis-cli does).
        others = [node for node in self.master_nodes() if node not in (target, source)]
        for node in (target, source, *others):
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", taker.id)

        def agreed() -> bool:
            for node in self.live():
                owners = [v.address for v in self.topology(node) if v.is_master and v.owns(slot)]
                if owners != [target.address]:
                    return False
            return not self.problems()

        wait_for(agreed, timeout, lambda: f"slot {slot} not moved: {self.problems()}")

    def problems(self, replicas_per_master: int | None = None) -> list[str]:
        """What keeps the cluster from being healthy now; empty when it is. Every live node
        must report ``cluster_state:ok`` with all slots ok and see the same picture: dead
        nodes marked failed, slots served by live masters only, live nodes connected and
        every live replica in sync with its (live) master."""
        found: list[str] = []
        live = {node.address for node in self.live()}
        for node in self.live():
            try:
                with node.client() as client:
                    info = info_fields(str(client.execute_command("CLUSTER", "INFO")))
                    views = parse_cluster_nodes(str(client.execute_command("CLUSTER", "NODES")))
                    replication = info_fields(str(client.execute_command("INFO", "replication")))
            except redis.RedisError as exc:
                found.append(f"{node.address}: {exc}")
                continue
            if info.get("cluster_state") != "ok":
                found.append(f"{node.address}: cluster_state {info.get('cluster_state')}")
            if info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
                found.append(f"{node.address}: slots ok {info.get('cluster_slots_ok')}")
            if {view.address for view in views} != {n.address for n in self.nodes}:
                found.append(f"{node.address}: does not know every node yet")
            for view in views:
                if view.address in live and not view.healthy:
                    found.append(f"{node.address} sees {view.address} as {sorted(view.flags)}")
                if view.address not in live and "fail" not in view.flags:
                    found.append(f"{node.address} does not yet see {view.address} failed")
                if view.slots and (view.address not in live or not view.is_master):
                    found.append(f"{node.address} sees slots on {view.address} {view.flags}")
            masters = [view for view in views if view.is_master and view.slots]
            if sum(last - first + 1 for v in masters for first, last in v.slots) != CLUSTER_SLOTS:
                found.append(f"{node.address}: slots not all served by masters")
            if len(masters) != self.masters:
                found.append(f"{node.address} sees {len(masters)} masters serving slots")
            if replicas_per_master is not None:
                for master in masters:
                    linked = [v for v in views if v.master_id == master.id and v.address in live]
                    if len(linked) != replicas_per_master:
                        found.append(f"{node.address}: {master.address} has {len(linked)} replicas")
            if replication.get("role") == "slave" and (
                replication.get("master_link_status") != "up"
                or replication.get("master_sync_in_progress") != "0"
            ):
                found.append(f"{node.address}: replica not in sync with its master")
        return found

    def wait_healthy(
        self, timeout: float = 60.0, *, replicas_per_master: int | None = None
    ) -> None:
        wait_for(
            lambda: not self.problems(replicas_per_master),
            timeout,
            lambda: f"the cluster is not healthy: {self.problems(replicas_per_master)}",
        )

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for master in self.master_nodes():
            with master.client() as client:
                client.flushall()

    def cleanup(self) -> None:
        for node in self.nodes:  # all at once, then wait for each
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            node.cleanup()


def wait_for(
    condition: Callable[[], bool], timeout: float, failure: Callable[[], str], poll: float = 0.05
) -> None:
    """Poll ``condition`` until it holds; after ``timeout`` seconds raise with ``failure()``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(failure())
        time.sleep(poll)
