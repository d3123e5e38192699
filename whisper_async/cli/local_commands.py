"""`wasync local up|down|status|env|logs`: the offline stack. `app.py` registers them."""

# No `from __future__ import annotations` here: Typer would evaluate every annotation
# string of every command at start-up, which costs more than the annotations themselves.

from pathlib import Path
from typing import Annotated, Any

import typer

from ..extras import needs_extra
from . import render
from .context import current, finish

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="The stack's folder [default: ~/.local/state/wasync]"),
]


def _state_dir(ctx: typer.Context, state_dir: Path | None) -> Path:
    return state_dir if state_dir is not None else current(ctx).settings.state_dir


def local_up(
    ctx: typer.Context,
    state_dir: StateDir = None,
    port: Annotated[
        int,
        typer.Option(
            help="moto's port (the emulator takes the next) [default: free ports]",
            show_default=False,
        ),
    ] = 0,
    runtime: Annotated[
        str,
        typer.Option(
            help="process (the serving code as a local process; no engine needed), or podman, "
            "docker or finch to run the built image with that engine"
        ),
    ] = "process",
    time_scale: Annotated[
        float,
        typer.Option(
            help="AWS seconds per second: 60 makes CloudWatch periods, cooldowns and request "
            "TTLs pass 60x faster (one minute per second); real work keeps its own pace"
        ),
    ] = 1.0,
) -> None:
    """Start the stack in the background and return once it answers."""
    with needs_extra("local", "`wasync local`"):
        from ..local import stack

    directory = _state_dir(ctx, state_dir)
    info = stack.up(directory, port, runtime, time_scale=time_scale)
    hint = f" --state-dir {directory}" if state_dir else ""
    current(ctx).output.show(
        info,
        lambda console, i: console.print(
            render.text(f'local stack up (pid {i.pid}); run: eval "$(wasync local env{hint})"')
        ),
    )


def local_down(
    ctx: typer.Context,
    state_dir: StateDir = None,
    grace: Annotated[float, typer.Option(help="Seconds to let running jobs finish")] = 30.0,
) -> None:
    """Stop everything the stack started; name every job it did not finish."""
    with needs_extra("local", "`wasync local`"):
        from ..local import stack

    def human(console: Any, result: Any) -> None:
        console.print(
            render.text("local stack stopped" if result.stopped else "no local stack was running")
        )
        for job in result.unfinished:
            console.print(render.text(f"unfinished: {job['endpoint']} {job['inference_id']}"))

    current(ctx).output.show(stack.down(_state_dir(ctx, state_dir), grace), human)


def local_status(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """The stack's services, endpoints, container processes and queue depths."""
    with needs_extra("local", "`wasync local`"):
        from ..local import stack

    info = stack.status(_state_dir(ctx, state_dir))

    def human(console: Any, info: Any) -> None:
        if not info["running"]:
            console.print(render.text(f"no local stack runs from {info['state_dir']}"))
            return
        services = info["services"]
        clock = f", time scale {info['time_scale']:g}" if info["time_scale"] != 1 else ""
        console.print(
            render.text(
                f"local stack pid {info['pid']}: moto {services['moto']}, "
                f"sagemaker {services['sagemaker']}{clock}"
            )
        )
        if not info["endpoints"]:
            console.print(render.text("no endpoints yet: deploy one with `wasync deploy`"))
            return
        console.print(
            render.table(
                ["endpoint", "status", "instances", "queued", "running", "restarts"],
                [
                    (
                        e["name"],
                        e["status"],
                        f"{e['current_instances']} of {e['desired_instances']}",
                        e["queued"],
                        e["running"],
                        e["restarts"],
                    )
                    for e in info["endpoints"]
                ],
            )
        )

    current(ctx).output.show(info, human)
    finish(info)


def local_env(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """Print export lines: eval "$(wasync local env)" points wasync, the AWS CLI and boto3 here
    (under --json, one document of the variables)."""
    with needs_extra("local", "`wasync local`"):
        from ..local import stack
        from ..local.profile import export_lines

    variables = stack.environment(_state_dir(ctx, state_dir))
    lines = export_lines(variables)
    current(ctx).output.show(
        variables, lambda console, _: console.print(render.text("\n".join(lines)))
    )


def local_logs(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """Show the stack's log and its containers' logs."""
    with needs_extra("local", "`wasync local`"):
        from ..local import stack

    log = stack.log_text(_state_dir(ctx, state_dir))
    current(ctx).output.show({"log": log}, lambda console, _: console.print(render.text(log)))
