"""deploy/container-test/check.py: the part that runs before any container, starting the Docker daemon."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from tests.deploy.deploy_support import REPO


def load_check() -> ModuleType:
    """The script is not a package module (it runs with the system Python, before the venv exists)."""
    spec = importlib.util.spec_from_file_location("container_check", REPO / "deploy/container-test/check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_proc(root: Path, processes: dict[int, str]) -> Path:
    for pid, name in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "comm").write_text(f"{name}\n")
    return root


def test_pid_files_of_gone_or_foreign_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    check = load_check()
    proc = fake_proc(tmp_path / "proc", {101: "dockerd", 202: "python3"})
    files = {name: tmp_path / f"{name}.pid" for name in ("live", "gone", "reused", "garbage", "absent")}
    files["live"].write_text("101\n")
    files["gone"].write_text("303\n")
    files["reused"].write_text("202\n")
    files["garbage"].write_text("not a pid\n")
    removed = check.remove_stale_pid_files({path: "dockerd" for path in files.values()}, proc)
    assert sorted(removed) == sorted([files["gone"], files["reused"], files["garbage"]])
    assert files["live"].exists()
    assert not any(files[name].exists() for name in ("gone", "reused", "garbage", "absent"))


def test_this_process_pid_file_is_kept_when_it_names_this_program(tmp_path: Path) -> None:
    """Against the real /proc: the current process is alive under its own name."""
    check = load_check()
    name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    pid_file = tmp_path / "self.pid"
    pid_file.write_text(str(os.getpid()))
    assert check.remove_stale_pid_files({pid_file: name}) == []
    assert pid_file.exists()


def test_the_log_tail_shows_only_what_this_run_wrote(tmp_path: Path) -> None:
    check = load_check()
    log = tmp_path / "dockerd.log"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write("".join(f"line {i}\n" for i in range(40)))
    tail = check.log_since(log, offset, lines=3)
    assert tail == "line 37\nline 38\nline 39"
    assert "old run" not in check.log_since(log, offset)
