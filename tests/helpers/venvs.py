"""Throw-away virtual environments holding the wheel, one extra, and what it requires: no more.

Two ways to fill one, both from the wheel's own metadata (Requires-Dist):
- "link" (the default): the wheel with --no-deps, plus every distribution its requirements
  pull in, transitively, at the versions installed in the test venv, linked file by file from
  that venv's site-packages (each distribution's RECORD). Offline and quick; `pip check` then
  proves the set is complete and every version satisfies its specifier.
- "resolver" (WASYNC_INSTALL_MATRIX=resolver): pip's real resolver, `pip install wheel[extra]`
  with constraints.txt, from the package index. Slower; needs the index.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .declared import PROJECT, PROJECT_ROOT

PIP = [sys.executable, "-m", "pip"]


def build_wheel(out_dir: Path) -> tuple[Path, str]:
    """The project's wheel, built as `pip install .` builds it (in an isolated build env with
    the build-system requirements); returns it and the build log."""
    result = subprocess.run(
        [*PIP, "wheel", "-v", "--no-deps", "-w", str(out_dir), "."],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out_dir.glob(f"{PROJECT}-*.whl")
    return wheel, result.stdout + result.stderr


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    return [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in (*extras, ""))


def distributions(
    requirements: Sequence[Requirement], extras: Iterable[str]
) -> list[importlib.metadata.Distribution]:
    """Every distribution that `requirements` (with the project's `extras`) pull in, from the
    installed ones; fails when one is missing or its version does not satisfy the specifier."""
    wanted = set(extras)
    queue = [(r, frozenset(wanted)) for r in requirements]
    found: dict[str, importlib.metadata.Distribution] = {}
    expanded: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, context = queue.pop()
        if not _applies(requirement, context):
            continue
        name = canonicalize_name(requirement.name)
        if name == PROJECT:  # one extra including another: wasync[serve]
            new = frozenset(requirement.extras - wanted)
            wanted |= new
            queue += [(r, new) for r in requirements]
            continue
        dist = found.get(name) or importlib.metadata.distribution(name)
        assert requirement.specifier.contains(dist.version, prereleases=True), (
            f"{requirement} is required, but the test venv holds {name} {dist.version}"
        )
        found[name] = dist
        key = (name, frozenset(requirement.extras))
        if key not in expanded:
            expanded.add(key)
            queue += [(Requirement(text), key[1]) for text in dist.requires or []]
    return list(found.values())


def _link(dist: importlib.metadata.Distribution, site_packages: Path) -> None:
    root = Path(str(dist.locate_file("")))
    files = dist.files
    assert files, f"{dist.metadata['Name']} has no RECORD: it cannot be copied"
    for file in files:
        relative = PurePosixPath(file)
        # Scripts and data outside site-packages (../../../bin) belong to the test venv's
        # interpreter; the package's own entry points are installed by pip below.
        if relative.parts[0] == ".." or "__pycache__" in relative.parts:
            continue
        source = root / relative
        if not source.exists():
            continue
        target = site_packages / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)


@dataclass(frozen=True)
class Venv:
    path: Path
    home: Path  # HOME and XDG folders for the commands run in it

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: this venv first on PATH, a private HOME, nothing of ours."""
        return {
            "PATH": f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "LANG": "C.UTF-8",
            **(extra or {}),
        }

    def run(
        self, *argv: str, extra_env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of this venv from its home folder (so no source tree is importable)."""
        command = [str(self.bin / argv[0]), *argv[1:]]
        return subprocess.run(
            command,
            cwd=self.home,
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def create(path: Path, wheel: Path, extras: Sequence[str]) -> Venv:
    """A venv holding the wheel with `extras` and what they require, nothing else."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = str(path / "bin" / "python")
    into = [*PIP, "--python", python]
    spec = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    if os.environ.get("WASYNC_INSTALL_MATRIX") == "resolver":
        constraints = str(PROJECT_ROOT / "constraints.txt")
        subprocess.run([*into, "install", "-q", "-c", constraints, spec], check=True)
    else:
        site_packages = Path(
            subprocess.run(
                [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        for dist in distributions(wheel_requirements(wheel), extras):
            _link(dist, site_packages)
        subprocess.run([*into, "install", "-q", "--no-deps", "--no-index", spec], check=True)
    check = subprocess.run([*into, "check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, f"pip check in the {extras or 'base'} venv:\n{check.stdout}"
    home = path.parent / f"{path.name}-home"
    home.mkdir()
    return Venv(path, home)
