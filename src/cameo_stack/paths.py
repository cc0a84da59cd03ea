"""Where the stack lives on disk: the repo root, the state dir (.stack/) and its files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def repo_root() -> Path:
    """The cameo checkout: $CAMEO_HOME, else the editable install's tree, else cwd upwards."""
    if env := os.environ.get("CAMEO_HOME"):
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]  # src/cameo_stack/paths.py -> repo
    if (here / "pyproject.toml").is_file() and (here / "functions").is_dir():
        return here
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "template.yaml").is_file() and (candidate / "functions").is_dir():
            return candidate
    raise RuntimeError("cannot find the cameo checkout; set CAMEO_HOME")


@dataclass(frozen=True)
class StatePaths:
    """Layout of one stack's state dir. Everything a running stack writes stays in here."""

    root: Path

    @classmethod
    def default(cls) -> StatePaths:
        env = os.environ.get("CAMEO_STACK_DIR")
        return cls(Path(env).resolve() if env else repo_root() / ".stack")

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def ensure(self) -> None:
        for path in (self.logs, self.pids, self.data):
            path.mkdir(parents=True, exist_ok=True)
