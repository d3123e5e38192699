"""The README's command reference names every command and option the CLI has, so a user who
reads it finds what `--help` would show (found missing: build --with-openai, fetch --timeout,
autoscale's cooldowns, local up's options, --version)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from whisper_async.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"


def reference() -> str:
    text = README.read_text()
    return text[text.index("## Command reference") : text.index("**Exit codes**")]


def commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command under a click group (typer's own click types), by its path."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if command.hidden:
            continue
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found.update(commands(command, f"{path} "))
        else:
            found[path] = command
    return found


def options(command: Any) -> list[tuple[str, ...]]:
    """Each option's names: `--format` and `-f`, `--push` and `--no-push`."""
    return [
        (*parameter.opts, *parameter.secondary_opts)
        for parameter in command.params
        if parameter.param_type_name == "option"
        and not getattr(parameter, "hidden", False)
        and "--help" not in parameter.opts
    ]


def named(text: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for name in names)


def test_every_command_and_option_is_in_the_readme() -> None:
    root = typer.main.get_command(app)
    text = reference()
    missing = [f"wasync {names[0]}" for names in options(root) if not named(text, names)]
    for path, command in sorted(commands(root).items()):
        if not named(text, (path.split()[-1],)):
            missing.append(f"wasync {path}")
        missing += [f"wasync {path} {n[0]}" for n in options(command) if not named(text, n)]
    assert not missing, "README's command reference lacks: " + ", ".join(missing)
