"""A real Request Tracker 5 for the session, shared by the connector's tests and the stream's.

``scripts/rt.sh start`` makes a fresh RT (SQLite, in a temporary folder, on a free loopback
port) with a "Social" queue, the "Router External ID" custom field, a "router" user with only
the rights docs/rt.md lists, and auth tokens for it and for root (who plays the agent).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.desks.rt import RTConfig

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rt.sh"
RT_SERVER = Path(os.environ.get("RT_SERVER", "/usr/share/request-tracker5/libexec/rt-server"))
NOT_INSTALLED = (f"Request Tracker 5 is not installed ({RT_SERVER} missing); "
                 "run: sudo scripts/rt.sh install (make test does it when run as root)")


@dataclass(frozen=True)
class LiveRT:
    url: str
    token: str  # the "router" user's: only the rights docs/rt.md lists, on the Social queue
    root_token: str  # for what an agent does in the tests
    password: str  # root's
    dir: Path
    start_seconds: float

    def config(self, **settings: Any) -> RTConfig:
        base: dict[str, Any] = {"url": self.url, "queue": "Social",
                                "token": SecretStr(self.token), "backoff_initial": 0.05,
                                "max_elapsed_seconds": 20.0}
        return RTConfig(**{**base, **settings})

    def agent(self) -> httpx.AsyncClient:
        """REST2 as a support agent (root) uses it, outside the connector."""
        return httpx.AsyncClient(base_url=f"{self.url}/REST/2.0", timeout=15.0,
                                 headers={"Authorization": f"token {self.root_token}"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRT]:
    home = tmp_path_factory.mktemp("rt")
    port = _free_port()
    started = time.monotonic()
    run = subprocess.run(["bash", str(SCRIPT), "start", str(home), str(port)],
                         capture_output=True, text=True, timeout=240, check=False)
    took = time.monotonic() - started
    if run.returncode != 0:
        pytest.fail(f"scripts/rt.sh start failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    print(f"\nRT 5 init + start took {took:.1f}s: {run.stdout.strip()}")
    try:
        yield LiveRT(url=f"http://127.0.0.1:{port}",
                     token=(home / "router-token").read_text().strip(),
                     root_token=(home / "token").read_text().strip(),
                     password=(home / "root-password").read_text().strip(), dir=home,
                     start_seconds=took)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(home)], capture_output=True,
                       timeout=60, check=False)
