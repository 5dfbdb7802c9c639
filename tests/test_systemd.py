"""The systemd units: in sync with what `pursuit service install` writes, parsed
cleanly by systemd, and sandboxed (exposure at most 1.5)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import Pursuit, pursuit_command

from pursuit.daemon import units

REPO = Path(__file__).resolve().parent.parent
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and os.environ.get("CI") != "true",
    reason="systemd-analyze is not installed (CI=true makes this a failure)",
)


def test_the_units_in_the_repository_are_what_install_writes() -> None:
    assert (REPO / "systemd" / units.USER_UNIT).read_text() == units.user_unit()
    assert (REPO / "systemd" / units.SYSTEM_UNIT).read_text() == units.system_unit()


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None, "systemd-analyze is required in CI"
    return subprocess.run(
        [ANALYZE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@needs_analyze
@pytest.mark.parametrize(
    ("name", "manager", "most"),
    [
        # A user manager's own defaults are weaker (KeyringMode=inherit): the user unit
        # is scored as the user manager that runs it would (issue 20), and as a system one.
        (units.USER_UNIT, "--user", 1.5),
        (units.USER_UNIT, "--system", 1.5),
        (units.SYSTEM_UNIT, "--system", 1.2),
    ],
)
def test_each_unit_is_sandboxed_to_an_exposure_of_at_most_1_5(
    name: str, manager: str, most: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--user` looks up the user manager's runtime directory, even offline.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    done = analyze(
        "security", manager, "--offline=yes", "--threshold=15", f"./{name}", cwd=REPO / "systemd"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert score is not None, done.stdout
    assert float(score[1]) <= most, done.stdout


@needs_analyze
@pytest.mark.parametrize("system", [False, True])
def test_the_installed_unit_parses_and_starts_the_installed_pursuit(
    tmp_path: Path, system: bool
) -> None:
    """What `pursuit service install` writes verifies cleanly, its ExecStart an
    existing executable (systemd-analyze checks it) that answers as pursuit. The
    installed script runs `service install` (a process): its own path goes in the unit."""
    p = Pursuit(tmp_path, config=None, process=True)
    args = (
        ["service", "install", "--system", "--root", str(tmp_path / "root")]
        if system
        else [
            "service",
            "install",
            "--user",
        ]
    )
    out = p.ok(*args)
    if system:
        unit = tmp_path / "root/etc/systemd/system" / units.SYSTEM_UNIT
        assert "systemctl enable --now pursuit@" in out
    else:
        unit = p.config_home / "systemd/user" / units.USER_UNIT
        assert "systemctl --user enable --now pursuit.service" in out
        assert "loginctl enable-linger" in out
    assert str(unit) in out
    text = unit.read_text()
    [exec_start] = re.findall(r"^ExecStart=(.*) run$", text, re.M)
    assert Path(exec_start).is_absolute()
    assert Path(exec_start).resolve() == Path(pursuit_command()[0]).resolve()
    version = subprocess.run([exec_start, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("pursuit ")

    done = analyze("verify", f"./{unit.name}", cwd=unit.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr


def test_install_says_what_to_do_when_it_may_not_write_the_system_unit(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o500)
    p = Pursuit(tmp_path, config=None)
    err = p.fails("service", "install", "--system", "--root", str(root), code=2)
    assert "sudo pursuit service install --system" in err
