"""A local single-node Apache Kafka (KRaft) for development, tests and the demo.

The broker's jars come from Maven Central through `mvn` and are cached; storage is formatted on
first start; the broker runs as broker+controller on loopback and is stopped cleanly.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("pom.xml")


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalBroker:
    port: int = 9092
    controller_port: int = 9093
    home: Path = PROJECT_ROOT / "var" / "kafka"
    cache: Path = Path(os.environ.get("MODERATION_KAFKA_CACHE", Path.home() / ".cache" / "moderation"))

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

    def _write_config(self) -> Path:
        data_dir = self.home / "data"
        props = self.home / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=4",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "log.segment.bytes=67108864",
            "",
        ]))
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
        cmd = ["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
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
        cluster_id = _kafka_uuid()
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
        return pid

    def accepting(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def ready(self) -> bool:
        """The broker answers metadata requests (not only accepts connections)."""
        if not self.accepting():
            return False
        from pipeline.kafka.admin import broker_answers

        return broker_answers(self.bootstrap)

    def up(self, timeout: float = 90.0, quiet: bool = False) -> str:
        if self.ready():
            return f"already up at {self.bootstrap}"
        if self.accepting() and self.pid() is None:
            raise BrokerError(f"port {self.port} is taken by another process; set MODERATION_KAFKA_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        self.resolve_jars(quiet=quiet)
        props = self._write_config()
        if self.pid() is None:
            self._format_storage(props)
            proc = self._java("kafka.Kafka", str(props), background=True)
            self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise BrokerError(f"the broker exited during start-up; see {self.log_file} and "
                                  f"{self.home / 'broker.stdout'}")
            if self.ready():
                return f"started at {self.bootstrap} (pid {self.pid()}, log {self.log_file})"
            time.sleep(0.5)
        raise BrokerError(f"the broker did not answer within {timeout:.0f}s; see {self.log_file}")

    def down(self, timeout: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            return "not running"
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
            return f"down (would run at {self.bootstrap}, home {self.home})"
        state = "up" if self.ready() else "starting or unresponsive"
        return f"{state} at {self.bootstrap} (pid {pid}, Kafka {KAFKA_VERSION}, log {self.log_file})"

    def wipe(self) -> None:
        """Stop and delete all broker data (the jar cache stays)."""
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)


def _kafka_uuid() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
