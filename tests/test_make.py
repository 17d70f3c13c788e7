"""`make test` is the whole suite: it installs what the real-desk and Mastodon tests need
(cached), and where that cannot be done here it says which command would, then goes on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_installs_rt_and_gotosocial_before_pytest() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make here: apt-get install make")
    plan = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True,  # noqa: S607
                          timeout=60, check=True).stdout.splitlines()
    wanted = ("fetch_jars", "scripts/rt.sh install", "scripts/browser.sh install",
              "scripts/mastodon-server.sh install", "-m pytest")
    steps = [next(i for i, line in enumerate(plan) if what in line) for what in wanted]
    assert steps == sorted(steps), plan


def _as_nobody(*cmd: str) -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to drop to an unprivileged user) and setpriv")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]


def test_rt_without_root_says_how_and_lets_the_suite_go_on() -> None:
    cmd = _as_nobody("env", "RT_SERVER=/nonexistent/rt-server", "bash",
                     "scripts/rt.sh", "install", "--if-possible")
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert run.returncode == 0
    assert "sudo scripts/rt.sh install" in run.stderr
    strict = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert strict.returncode != 0 and "sudo scripts/rt.sh install" in strict.stderr


def test_gotosocial_without_go_says_how_and_lets_the_suite_go_on(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # bash and the few tools the script needs, but no go
    bin_dir.mkdir()
    for tool in ("bash", "cat", "env", "mkdir", "rm"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    run = subprocess.run(  # noqa: S603
        [str(bin_dir / "bash"), "scripts/mastodon-server.sh", "install", "--if-possible"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "GTS_HOME": str(tmp_path / "gts")})
    assert run.returncode == 0, run.stderr
    assert "scripts/mastodon-server.sh install" in run.stderr and "no Go" in run.stderr
    assert not (tmp_path / "gts" / "installed").exists()


def test_a_browser_without_root_says_how_and_lets_the_suite_go_on() -> None:
    # bash and id, but no chromium, chromedriver or sudo, where the unprivileged user reads
    bin_dir = Path(tempfile.mkdtemp(prefix="browser-sh-"))
    try:
        bin_dir.chmod(0o755)
        for tool in ("bash", "id"):
            found = shutil.which(tool)
            assert found is not None
            (bin_dir / tool).symlink_to(found)
        env = shutil.which("env")
        assert env is not None
        cmd = _as_nobody(env, f"PATH={bin_dir}", str(bin_dir / "bash"), "scripts/browser.sh",
                         "install", "--if-possible")
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603
        strict = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                                timeout=60)
    finally:
        shutil.rmtree(bin_dir)
    assert run.returncode == 0, run.stderr
    assert "sudo scripts/browser.sh install" in run.stderr
    assert strict.returncode != 0 and "sudo scripts/browser.sh install" in strict.stderr
