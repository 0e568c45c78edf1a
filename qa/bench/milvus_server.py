"""A Milvus server on this machine for benchmarks and tests: milvus-lite's own `milvus-lite server` command
(the gRPC protocol of a Milvus server, over a data folder), in a process of its own.

Clients then connect to `http://127.0.0.1:PORT` exactly as to a Milvus cluster: several processes at once
(app replicas, a writer), which a milvus-lite `.db` file opened in-process does not allow, and the engine's
memory is not counted in theirs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for an app or engine process this run starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiteServer:
    """`with LiteServer(data_dir) as server:` … `server.uri`; stopped on exit."""

    def __init__(self, data_dir: Path, timeout: float = 60.0, port: int | None = None):
        """`port`: the one to listen on (default: a free one); give the old one to restart an engine."""
        self.data_dir, self.timeout = Path(data_dir), timeout
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LiteServer:
        exe = Path(sys.executable).with_name("milvus-lite")
        self.process = subprocess.Popen(
            [str(exe), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with code {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"milvus-lite server did not listen on port {self.port} within {self.timeout:.0f} s")

    def rss_mb(self) -> float:
        """The server process's resident memory (MB)."""
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, 9)
                self.process.wait()
