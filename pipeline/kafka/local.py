"""A local Apache Kafka (KRaft) for development, tests and the demo: one node, or a cluster of three.

The broker's jars come from Maven Central through `mvn` and are cached; storage is formatted on
first start; each node runs as broker+controller on loopback and is stopped cleanly.

`LocalCluster` runs N such nodes as one cluster (a quorum of N voters, topics replicated N ways,
`min.insync.replicas` N-1): node i listens on port + 2i, its controller on the port after, so the
first node is on the single node's address and the default bootstrap reaches either. Its data is
in a folder of its own, apart from the single node's.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PROJECT_ROOT

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("pom.xml")


class BrokerError(RuntimeError):
    pass


def _default_cache() -> Path:
    return Path(os.environ.get("MODERATION_KAFKA_CACHE", Path.home() / ".cache" / "moderation"))


@dataclass(frozen=True)
class LocalBroker:
    port: int = 9092
    controller_port: int = 9093
    home: Path = PROJECT_ROOT / "var" / "kafka"
    cache: Path = field(default_factory=_default_cache)
    # In a cluster: this node's id, the quorum's voters ("1@host:port,2@host:port,…"), the cluster id
    # every node is formatted with, and how many copies the broker's own topics keep.
    node_id: int = 1
    voters: str | None = None
    cluster_id: str | None = None
    replicas: int = 1

    @classmethod
    def from_env(cls) -> "LocalBroker":
        port = int(os.environ.get("MODERATION_KAFKA_PORT", "9092"))
        home = Path(os.environ.get("MODERATION_KAFKA_HOME", PROJECT_ROOT / "var" / f"kafka-{port}"))
        return cls(port=port, controller_port=port + 1, home=home)

    # ------------------------------------------------------------------ paths
    @property
    def libs(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    # ------------------------------------------------------------------ steps
    def resolve_jars(self, quiet: bool = False) -> Path:
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        if shutil.which("mvn") is None:
            raise BrokerError("mvn is not on PATH: it is needed once to fetch the Kafka jars from Maven Central")
        self.libs.mkdir(parents=True, exist_ok=True)
        if not quiet:
            print(f"Fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {self.libs} …", file=sys.stderr)
        cmd = ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"mvn could not resolve Kafka {KAFKA_VERSION}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        marker.write_text(KAFKA_VERSION)
        return self.libs

    def properties(self) -> dict[str, str]:
        """The node's server.properties."""
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "4",
            "default.replication.factor": str(self.replicas),
            "min.insync.replicas": str(min_insync(self.replicas)),
            "offsets.topic.replication.factor": str(self.replicas),
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": str(self.replicas),
            "transaction.state.log.min.isr": str(min_insync(self.replicas)),
            "transaction.state.log.num.partitions": "8",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
            "log.segment.bytes": "67108864",
        }

    def _write_config(self) -> Path:
        props = self.home / "server.properties"
        props.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        (self.home / "log4j.properties").write_text("\n".join([
            "log4j.rootLogger=INFO, file",
            "log4j.appender.file=org.apache.log4j.FileAppender",
            f"log4j.appender.file.File={self.log_file}",
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "log4j.logger.kafka=INFO",
            "log4j.logger.org.apache.kafka=WARN",
            "log4j.logger.state.change.logger=WARN",
            "",
        ]))
        return props

    def _java(self, main: str, *args: str, background: bool = False):
        cmd = ["java", "-Xms256m" if self.replicas == 1 else "-Xms128m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
               "-cp", f"{self.libs}/*", main, *args]
        if background:
            out = open(self.home / "broker.stdout", "ab")
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        return subprocess.run(cmd, capture_output=True, text=True)

    def _format_storage(self, props: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = self.cluster_id or _kafka_uuid()
        # `=`: a random id may begin with '-', which the tool's argument parser would take for an option
        result = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props))
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}")

    # ------------------------------------------------------------------ lifecycle
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if _zombie(pid):
            # Killed, but its parent (this process, when it started the node) has not collected it.
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return None
        if not self._is_node(pid):
            # A pid file left behind (a reboot, a node killed): the number now belongs to another process.
            return None
        return pid

    def _is_node(self, pid: int) -> bool:
        """The process runs this node's broker: kafka.Kafka with this node's properties file."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True    # no /proc to ask (not Linux): trust the pid file
        if not cmdline:
            return True    # read while the process execs (the java launcher may exec itself again): no answer
        args = cmdline.split(b"\0")
        return b"kafka.Kafka" in args and str(self.home / "server.properties").encode() in args

    def accepting(self, timeout: float = 0.5) -> bool:
        return _accepting(self.port, timeout)

    def taken_ports(self) -> list[int]:
        """The node's ports (client and controller) another process listens on while it is down."""
        if self.pid() is not None:
            return []
        return [port for port in (self.port, self.controller_port) if _accepting(port)]

    def ready(self) -> bool:
        """The broker answers metadata requests (not only accepts connections)."""
        if not self.accepting():
            return False
        from pipeline.kafka.admin import broker_answers

        return broker_answers(self.bootstrap)

    def up(self, timeout: float = 90.0, quiet: bool = False) -> str:
        if self.ready():
            return f"already up at {self.bootstrap}"
        self.launch(quiet)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise BrokerError(f"the broker exited during start-up; see {self.log_file} and "
                                  f"{self.home / 'broker.stdout'}")
            if self.ready():
                return f"started at {self.bootstrap} (pid {self.pid()}, log {self.log_file})"
            time.sleep(0.5)
        raise BrokerError(f"the broker did not answer within {timeout:.0f}s; see {self.log_file}")

    def launch(self, quiet: bool = False) -> None:
        """Start the node's process unless it runs; does not wait for it."""
        taken = self.taken_ports()
        if taken:
            raise BrokerError(f"port {' and '.join(map(str, taken))} is taken by another process; "
                              f"set MODERATION_KAFKA_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        self.resolve_jars(quiet=quiet)
        props = self._write_config()
        if self.pid() is None:
            self._format_storage(props)
            proc = self._java("kafka.Kafka", str(props), background=True)
            self.pid_file.write_text(str(proc.pid))

    def fatal(self) -> str | None:
        """Why the node last stopped, when it stopped on a fatal error: the exception its log names."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-200:]
        except OSError:
            return None
        for i in range(len(lines) - 1, -1, -1):
            if "Exiting Kafka due to fatal exception" in lines[i]:
                return next((line.strip()[:400] for line in lines[i + 1:] if line.strip()), None)
        return None

    def kill(self) -> int | None:
        """`kill -9` the node (what a lost machine looks like to the others); returns its pid."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.pid() is not None:
                time.sleep(0.05)
        return pid

    def quorum_state(self) -> dict | None:
        """The node's own record of the controller quorum (leader id and epoch), as KRaft keeps it on
        disk on every change of leader it sees."""
        try:
            return json.loads((self.home / "data" / "__cluster_metadata-0" / "quorum-state").read_text())
        except (OSError, ValueError):
            return None

    def down(self, timeout: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            return self._elsewhere() or "not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (pid {pid})"

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return self._elsewhere() or f"down (would run at {self.bootstrap}, home {self.home})"
        state = "up" if self.ready() else "starting or unresponsive"
        return f"{state} at {self.bootstrap} (pid {pid}, Kafka {KAFKA_VERSION}, log {self.log_file})"

    def _elsewhere(self) -> str | None:
        """What to say when the node is not running from here but something answers on its port."""
        if not self.accepting():
            return None
        return (f"a process not started from {self.home} answers at {self.bootstrap} (a broker of another "
                f"checkout or folder?); commands here neither stop nor change it")

    def wipe(self) -> None:
        """Stop and delete all broker data (the jar cache stays)."""
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)


def _accepting(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def min_insync(replicas: int) -> int:
    """How many copies a write must reach: all but one, and at most two (three copies tolerate the
    loss of one node with no write refused)."""
    return max(1, min(2, replicas - 1))


def _kafka_uuid() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass(frozen=True)
class LocalCluster:
    """N KRaft nodes on loopback, each broker and controller, as one cluster."""
    nodes: int = 3
    port: int = 9092
    home: Path = PROJECT_ROOT / "var" / "kafka-cluster-9092"
    cache: Path = field(default_factory=_default_cache)

    @classmethod
    def from_env(cls, nodes: int | None = None) -> "LocalCluster":
        """The cluster of MODERATION_KAFKA_PORT (its first node's port); without `nodes`, as many as
        were started there last (three if none were)."""
        port = int(os.environ.get("MODERATION_KAFKA_PORT", "9092"))
        home = Path(os.environ.get("MODERATION_KAFKA_CLUSTER_HOME", PROJECT_ROOT / "var" / f"kafka-cluster-{port}"))
        if nodes is None:
            nodes = _started_size(home) or len(list(home.glob("node-*"))) or 3
        return cls(nodes=nodes, port=port, home=home)

    @property
    def members(self) -> list[LocalBroker]:
        voters = ",".join(f"{i + 1}@127.0.0.1:{self.port + 2 * i + 1}" for i in range(self.nodes))
        cluster_id = self.cluster_id
        return [LocalBroker(port=self.port + 2 * i, controller_port=self.port + 2 * i + 1,
                            home=self.home / f"node-{i + 1}", cache=self.cache, node_id=i + 1, voters=voters,
                            cluster_id=cluster_id, replicas=self.nodes)
                for i in range(self.nodes)]

    def node(self, node_id: int) -> LocalBroker:
        return self.members[node_id - 1]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + 2 * i}" for i in range(self.nodes))

    @property
    def cluster_id(self) -> str | None:
        """The one id every node is formatted with, kept beside their folders (made by `up`)."""
        try:
            return (self.home / "cluster.id").read_text().strip() or None
        except OSError:
            return None

    def running(self) -> list[LocalBroker]:
        return [member for member in self.members if member.pid() is not None]

    def up(self, timeout: float = 120.0, quiet: bool = False) -> str:
        if self.cluster_id is None:
            self.home.mkdir(parents=True, exist_ok=True)
            (self.home / "cluster.id").write_text(_kafka_uuid())
        members = self.members
        if all(member.pid() is not None for member in members) and self.complete():
            return f"already up: {self.nodes} nodes at {self.bootstrap}"
        for member in members:   # every node's folder first: `from_env` counts them
            member.home.mkdir(parents=True, exist_ok=True)
        taken = [port for member in members for port in member.taken_ports()]
        if taken:
            raise BrokerError(f"port {', '.join(map(str, taken))} is taken by another process, so no node was "
                              f"started; the cluster uses ports {self.port}-{self.port + 2 * self.nodes - 1}: "
                              f"set MODERATION_KAFKA_PORT to a first port with that many free")
        members[0].resolve_jars(quiet=quiet)
        started: list[LocalBroker] = []
        try:
            for member in members:
                if member.pid() is None:
                    member.launch(quiet=True)
                    started.append(member)
            if self.formed(timeout, watch=members):
                return f"started {self.nodes} nodes at {self.bootstrap} (logs in {self.home}/node-*/broker.log)"
            raise BrokerError(f"the cluster did not form within {timeout:.0f}s; see {self.home}/node-*/broker.log")
        except BaseException:
            # A cluster that did not form is no cluster: the nodes started here are stopped again,
            # so no half of one is left running (and taken for the whole by `status` and `up`).
            _stop(started)
            raise

    def formed(self, timeout: float, watch: list[LocalBroker] = ()) -> bool:
        """Waits until the cluster is `complete` for a few asks in a row: each node learns of the
        others from the metadata log a moment apart, and a client asks whichever node it picks, so
        topics created while one still knows two brokers would get two copies. A node of `watch`
        that exits ends the wait with an error."""
        deadline, agreed = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            for member in watch:
                if member.pid() is None:
                    why = member.fatal()
                    raise BrokerError(f"node {member.node_id} exited during start-up{f' ({why})' if why else ''}; "
                                      f"see {member.log_file} and {member.home / 'broker.stdout'}")
            agreed = agreed + 1 if self.complete() else 0
            if agreed >= 4:
                return True
            time.sleep(0.5)
        return False

    def complete(self) -> bool:
        """Every node answers, and the cluster's metadata lists them all."""
        if not all(member.accepting() for member in self.members):
            return False
        from pipeline.kafka.admin import cluster_broker_ids

        return len(asyncio.run(cluster_broker_ids(self.bootstrap))) == self.nodes

    def down(self, timeout: float = 30.0) -> str:
        """Stops every node at once: one at a time, the last ones wait out their timeout for a
        quorum that has already gone."""
        return "; ".join(_stop(self.members, timeout)) or "not running"

    def controller(self) -> int | None:
        """The id of the active controller: the leader of the newest epoch any running node has seen."""
        seen = [state for member in self.running() if (state := member.quorum_state())
                and state.get("leaderId", -1) > 0]
        if not seen:
            return None
        return max(seen, key=lambda state: state.get("leaderEpoch", -1))["leaderId"]

    def status(self) -> str:
        running = self.running()
        if not running:
            return f"down (would run {self.nodes} nodes at {self.bootstrap}, home {self.home})"
        controller = self.controller()
        lines = [f"{len(running)} of {self.nodes} nodes running (Kafka {KAFKA_VERSION}); active controller: "
                 f"{f'node {controller}' if controller else 'none known'}"]
        for member in self.members:
            pid = member.pid()
            state = "down" if pid is None else ("up" if member.accepting() else "starting or unresponsive")
            role = ", active controller" if pid and member.node_id == controller else ""
            lines.append(f"  node {member.node_id}: {state} at {member.bootstrap} (controller port "
                         f"{member.controller_port}{'' if pid is None else f', pid {pid}'}{role})")
        return "\n".join(lines)

    def wipe(self) -> None:
        """Stop every node and delete the cluster's data (the jar cache stays)."""
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)


def _started_size(home: Path) -> int | None:
    """How many nodes the cluster in `home` was last started with: the voters its first node was given."""
    try:
        lines = (home / "node-1" / "server.properties").read_text().splitlines()
    except OSError:
        return None
    voters = next((line.split("=", 1)[1] for line in lines if line.startswith("controller.quorum.voters=")), "")
    return len(voters.split(",")) if voters else None


def _stop(members: list[LocalBroker], timeout: float = 30.0) -> list[str]:
    """SIGTERM to every running node of `members` at once, SIGKILL to those still up after `timeout`."""
    running = [(member, pid) for member in members if (pid := member.pid()) is not None]
    for _, pid in running:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(member.pid() is not None for member, _ in running):
        time.sleep(0.2)
    stopped = []
    for member, pid in running:
        if member.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        member.pid_file.unlink(missing_ok=True)
        stopped.append(f"node {member.node_id} stopped (pid {pid})")
    return stopped


def command(action: str, nodes: int = 1) -> str:
    """`moderation kafka ACTION [--nodes N]`: one node by default; `down`, `status` and `wipe` act on
    whatever runs, one node or a cluster."""
    single, cluster = LocalBroker.from_env(), LocalCluster.from_env()
    cluster_runs, single_runs = bool(cluster.running()), single.pid() is not None
    if action == "up":
        if nodes > 1:
            if single_runs:
                raise BrokerError(f"a single node runs at {single.bootstrap}; `moderation kafka down` stops it "
                                  f"before a cluster can start on its port")
            if cluster_runs and cluster.nodes != nodes:
                raise BrokerError(f"a {cluster.nodes}-node cluster runs at {cluster.bootstrap}; `moderation kafka "
                                  f"down` stops it before one of {nodes} can start (its quorum is of {cluster.nodes})")
            return LocalCluster.from_env(nodes).up()
        if cluster_runs:
            return (f"a {len(cluster.members)}-node cluster is up at {cluster.bootstrap}; "
                    f"`moderation kafka down` stops it, then `moderation kafka up` starts a single node")
        return single.up()
    if action == "down":
        said = [f"cluster: {cluster.down()}"] if cluster_runs else []
        if single_runs or not said:
            said.append(single.down())
        return "\n".join(said)
    if action == "status":
        return cluster.status() if cluster_runs else single.status()
    if action == "wipe":
        cluster.wipe()
        single.wipe()
        return "wiped the local broker's and the cluster's data"
    raise ValueError(action)
