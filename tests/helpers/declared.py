"""What pyproject.toml declares, per extra, and whether the import graph is covered by it."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .import_graph import Import

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "wasync"
BASE = "base"


def pyproject(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def declared(project: Mapping[str, Any]) -> dict[str, set[str]]:
    """For the base install and each extra: the distributions it declares itself (the base
    list, its own list and those of the project's extras it includes), markers evaluated for
    this interpreter. Only direct declarations count: a package that arrives because some
    other package happens to depend on it today is not declared."""
    metadata = project["project"]
    lists: dict[str, list[str]] = {BASE: list(metadata.get("dependencies", []))}
    lists.update(metadata.get("optional-dependencies", {}))

    def expand(extra: str, seen: frozenset[str]) -> set[str]:
        names: set[str] = set()
        for text in lists[extra]:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(requirement.name) == PROJECT:
                for included in requirement.extras - seen:
                    names |= expand(included, seen | {included})
            else:
                names.add(canonicalize_name(requirement.name))
        return names

    base = expand(BASE, frozenset({BASE}))
    return {extra: base | expand(extra, frozenset({extra})) for extra in lists}


def import_providers() -> dict[str, set[str]]:
    """Top-level import name -> the installed distributions that provide it: top_level.txt, or
    the files a distribution installs (Python 3.10's packages_distributions reads only
    top_level.txt, which many wheels do not ship)."""
    providers: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        names = set((dist.read_text("top_level.txt") or "").split())
        for file in dist.files or []:
            first = file.parts[0]
            if len(file.parts) > 1 and "." not in first and first != "..":
                names.add(first)
            elif file.suffix in {".py", ".so", ".pyd"} and len(file.parts) == 1:
                names.add(first.split(".")[0])
        for name in names:
            providers.setdefault(name, set()).add(canonicalize_name(dist.metadata["Name"]))
    return providers


def is_third_party(top_level: str, package: str) -> bool:
    return top_level != package and top_level not in sys.stdlib_module_names


def uncovered(
    imports: Iterable[Import],
    declarations: Mapping[str, set[str]],
    providers: Mapping[str, set[str]],
    owner: Callable[[str, str], str],
    package: str = "whisper_async",
) -> list[str]:
    """Every import that the extras its users install do not cover, as readable lines.

    - A third-party import must come from a distribution declared by the extra that owns the
      function or module it sits in (plus any extra a `needs_extra` block names).
    - A guarded import (`try: ... except ImportError`) is optional, but must still be declared
      by some extra, so that some install makes it work.
    - An import of one of the package's own modules must not reach into a bigger extra: what
      the imported module's extra declares must be declared for the importer too.
    """
    everything = set().union(*declarations.values())
    problems = []
    for found in imports:
        extras = {owner(found.module, found.scope), *found.extras}
        unknown = extras - set(declarations)
        if unknown:
            problems.append(f"{found.where}: needs_extra names no such extra {sorted(unknown)}")
            continue
        allowed = set().union(*(declarations[e] for e in extras))
        label = "+".join(sorted(extras))
        if found.top_level == package:
            target_extra = owner(found.target, found.name)
            missing = declarations[target_extra] - allowed
            if missing:
                problems.append(
                    f"{found.where} ({label}) imports {found.target} ({target_extra}), which "
                    f"needs {', '.join(sorted(missing))}: not declared for {label}"
                )
            continue
        if not is_third_party(found.top_level, package):
            continue
        provided_by = providers.get(found.top_level, set())
        if not provided_by:
            problems.append(
                f"{found.where} imports {found.top_level}, which no installed distribution provides"
            )
        elif found.guarded:
            if not provided_by & everything:
                problems.append(
                    f"{found.where} imports {found.top_level} (optional, guarded), which no "
                    f"extra declares ({', '.join(sorted(provided_by))})"
                )
        elif not provided_by & allowed:
            problems.append(
                f"{found.where} ({label}) imports {found.top_level}, from "
                f"{', '.join(sorted(provided_by))}, which {label} does not declare"
            )
    return problems
