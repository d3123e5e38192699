"""The lifecycle commands: build, push-model, deploy, autoscale, status, logs, delete, iam,
config show. Each parses, calls one capability and renders its result; `app.py` registers
them. Capability modules are imported inside each command, so start-up stays fast."""

# No `from __future__ import annotations` here: Typer would evaluate every annotation
# string of every command at start-up, which costs more than the annotations themselves.

import sys
import time
from typing import Annotated, Any

import typer

from ..errors import ExitCode, UsageError
from . import render
from .context import current

DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the API calls it would make and change nothing")
]


def build(
    ctx: typer.Context,
    tag: Annotated[
        str | None, typer.Option(help="Image tag [default: version, variant, content hash]")
    ] = None,
    platform: Annotated[str, typer.Option(help="Target platform")] = "linux/amd64",
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push to ECR after building")
    ] = True,
    builder: Annotated[
        str | None,
        typer.Option(help="docker, podman or finch [default: the first one that works]"),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="faster (slim, no torch) or openai (adds openai-whisper and torch)")
    ] = "faster",
    with_openai: Annotated[
        bool, typer.Option("--with-openai", help="Same as --engine openai")
    ] = False,
    base_image: Annotated[
        str | None, typer.Option(help="Base image [default: the CUDA 12.6 + cuDNN 9 runtime]")
    ] = None,
    build_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--build-arg",
            metavar="NAME=VALUE",
            help="A build argument for the builder, repeatable (e.g. https_proxy)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (build, ECR, login, push); do nothing")
    ] = False,
) -> None:
    """Build the serving image and push it to ECR; the URI becomes deploy's default."""
    from ..image import BuildOptions, build_image, plan_build
    from ..image_variants import BASE_IMAGE

    app = current(ctx)
    options = BuildOptions(
        tag=tag,
        platform=platform,
        push=push,
        builder=builder,
        variant="openai" if with_openai else engine,
        base_image=base_image or BASE_IMAGE,
        build_args=tuple(build_arg or ()),
    )
    if dry_run:
        plan = plan_build(app.clients, options)
        lines = [f"{n}. {step.render()}" for n, step in enumerate(plan.steps, 1)]
        lines += [f"note: {note}" for note in plan.notes]
        app.output.show(plan, lambda console, p: render.render_value(console, "\n".join(lines)))
        return
    result = build_image(app.clients, options)
    for note in result.notes:
        app.output.info(note)
    app.output.show(result, lambda console, r: render.render_value(console, r.image_uri))


def push_model(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="A .pt checkpoint, a CTranslate2 directory, or a name (tiny ... large-v3, turbo)"
        ),
    ],
    engine: Annotated[
        str | None,
        typer.Option(help="faster or openai [default: from the files; faster for names]"),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name in S3 [default: from the source]")
    ] = None,
) -> None:
    """Package Whisper weights as model.tar.gz with a manifest and upload them to S3."""
    from ..models import choose_source
    from ..models import push_model as push

    app = current(ctx)
    out = app.output
    choice = choose_source(source)
    out.info(f"pushing the {choice.description}")
    with out.transfer_progress() as bar:
        result = push(
            app.clients,
            choice,
            engine=engine,
            name=name,
            progress=render.rich_progress_factory(bar),
        )
    if result.left_out:
        shown = ", ".join(result.left_out[:5]) + (", ..." if len(result.left_out) > 5 else "")
        out.warn(
            f"left out {len(result.left_out)} file{'s' if len(result.left_out) != 1 else ''} "
            f"not part of a CTranslate2 Whisper model: {shown}"
        )
    if result.skipped:
        out.info(
            f"{result.uri} already holds these weights (sha256 {result.sha256[:12]}); upload skipped"
        )
    out.show(result, lambda console, r: render.render_value(console, r.uri))


def deploy(
    ctx: typer.Context,
    instance: Annotated[
        str | None,
        typer.Option(
            "--instance",
            help="Instance type, e.g. ml.g5.xlarge [default: ml.g5.xlarge; an existing "
            "endpoint keeps its own, as it keeps every setting not given]",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model S3 URI, or 'last' [default: last pushed]")
    ] = None,
    image_uri: Annotated[
        str | None,
        typer.Option(
            "--image-uri", help="Image URI, or 'last' [default: --image, then last built]"
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Concurrent jobs per instance [default: 1]")
    ] = None,
    initial_count: Annotated[
        int | None,
        typer.Option(
            help="Instances at creation [default: 1]; on an update, the instances it runs now "
            "(autoscaling's count) are kept unless this is given"
        ),
    ] = None,
    notify: Annotated[
        bool | None,
        typer.Option(
            "--notify/--no-notify", help="Create SNS success/error topics and notify them"
        ),
    ] = None,
    startup_timeout: Annotated[
        int | None, typer.Option(help="Container health-check timeout, seconds [default: 1800]")
    ] = None,
    download_timeout: Annotated[
        int | None, typer.Option(help="Model download timeout, seconds [default: 1800]")
    ] = None,
    compute_type: Annotated[
        str | None, typer.Option(help="Engine compute type, e.g. float16, int8_float16")
    ] = None,
    cpu_encoder: Annotated[
        str | None,
        typer.Option(
            help="ctranslate2 (the default) or torch-bfloat16: the faster engine's encoder on CPU "
            "instances; torch-bfloat16 is ~1.5x faster on AMX CPUs (ml.c7i, ml.m7i, ml.r7i), "
            "needs an image built --with-openai, and is not the default for accuracy "
            "(docs/serving.md)"
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Default language for requests that set none")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Default batch size for requests that set none; 1 decodes in sequence "
            "[default: the engine's]"
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            metavar="NAME=VALUE",
            help="A container variable, NAME=VALUE (repeatable; NAME= removes one), e.g. "
            "WASYNC_MAX_AUDIO_SECONDS=28800 (docs/serving.md lists them); an existing "
            "endpoint keeps those it has",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until InService")] = True,
    timeout: Annotated[str, typer.Option(help="How long to wait, e.g. 30m")] = "45m",
    dry_run: DryRun = False,
) -> None:
    """Create (or update in place) the model, endpoint config and async endpoint; nothing when
    the endpoint already runs exactly this."""
    from ..durations import parse_duration
    from ..endpoint import DeployRequest, parse_env, plan_deploy, wait_for_earlier_change
    from ..endpoint import deploy as run_deploy

    app = current(ctx)
    out = app.output
    wait_seconds = parse_duration(timeout)
    if wait and wait_seconds == 0:
        raise UsageError("--timeout 0 leaves no time to wait", "pass --no-wait not to wait")
    given: dict[str, Any] = {
        "instance_type": instance,
        "max_concurrency": max_concurrency,
        "initial_count": initial_count,
        "notify": notify,
        "startup_timeout": startup_timeout,
        "download_timeout": download_timeout,
        "compute_type": compute_type,
        "cpu_encoder": cpu_encoder,
        "default_language": language,
        "default_batch_size": batch_size,
    }
    request = DeployRequest(
        model_uri=model,
        image_uri=image_uri,
        environment=parse_env(env or []),
        kept=frozenset(name for name, value in given.items() if value is None),
        **{name: value for name, value in given.items() if value is not None},
    )
    started = time.monotonic()
    if wait and not dry_run:
        with out.live_line() as update:

            def on_earlier(status: str, elapsed: float) -> None:
                update(f"{app.settings.endpoint}: {status} before this deploy ({int(elapsed)}s)")

            earlier = wait_for_earlier_change(app.clients, wait_seconds, on_earlier)
        if earlier:
            out.info(f"Waited for {app.settings.endpoint}'s change under way ({earlier})")
    plan = plan_deploy(app.clients, request)
    for warning in plan.warnings:
        out.warn(warning)
    if dry_run:
        out.show(plan, render.render_deploy_plan)
        return
    if plan.action != "unchanged":
        out.info(f"{plan.action.capitalize()} endpoint {plan.endpoint} with {plan.model_uri}")
    for change in plan.changes if plan.action == "update" else ():
        out.info(f"  changes {change}")
    with out.live_line() as update:

        def on_status(status: str, elapsed: float) -> None:
            update(f"{plan.endpoint}: {status} ({int(elapsed)}s elapsed)")

        left = max(wait_seconds - (time.monotonic() - started), 1.0)
        result = run_deploy(app.clients, plan, wait=wait, timeout=left, on_status=on_status)
    for removed in result.removed:
        out.debug(f"removed superseded {removed}")
    out.show(result, render.render_deploy)


# autoscale's settings, which --off would ignore: flag -> parameter
SCALING_OPTIONS = {
    "--min": "min_capacity",
    "--max": "max_capacity",
    "--target": "target",
    "--scale-in-cooldown": "scale_in_cooldown",
    "--scale-out-cooldown": "scale_out_cooldown",
}


def autoscale(
    ctx: typer.Context,
    min_capacity: Annotated[
        int, typer.Option("--min", help="Minimum instances (0 scales to zero)")
    ] = 0,
    max_capacity: Annotated[int, typer.Option("--max", help="Maximum instances")] = 1,
    target: Annotated[float, typer.Option(help="Queued requests per instance to aim for")] = 2.0,
    scale_in_cooldown: Annotated[
        str, typer.Option(help="Time between scale-ins, e.g. 600 (seconds) or 10m")
    ] = "600",
    scale_out_cooldown: Annotated[
        str, typer.Option(help="Time between scale-outs, e.g. 60 (seconds) or 1m")
    ] = "60",
    off: Annotated[bool, typer.Option("--off", help="Remove autoscaling")] = False,
    dry_run: DryRun = False,
) -> None:
    """Scale to zero when idle and out from zero when work arrives (re-run updates in place)."""
    from .. import scaling
    from ..plan import deleted_names, execute

    app = current(ctx)
    if off:
        given = [
            flag
            for flag, parameter in SCALING_OPTIONS.items()
            # by name: Typer vendors its own Click, whose ParameterSource is not click's
            if getattr(ctx.get_parameter_source(parameter), "name", "DEFAULT") != "DEFAULT"
        ]
        if given:
            raise UsageError(
                f"--off removes autoscaling; {', '.join(given)} would be ignored",
                "pass --off alone, or the settings without --off",
            )
        plan = scaling.plan_disable(app.clients)
    else:
        request = scaling.ScalingRequest(
            min_capacity,
            max_capacity,
            target,
            scaling.cooldown_seconds("--scale-in-cooldown", scale_in_cooldown),
            scaling.cooldown_seconds("--scale-out-cooldown", scale_out_cooldown),
        )
        plan = scaling.plan_configure(app.clients, request)
    if dry_run:
        app.output.show(plan, render.render_scaling_plan)
        return
    execute(app.clients, plan.plan)
    if plan.settings is None:
        removed = scaling.ScalingRemoved(plan.endpoint, deleted_names(plan.steps))
        app.output.show(removed, render.render_scaling_removed)
    else:
        app.output.show(plan.settings, render.render_scaling)


def status(ctx: typer.Context) -> None:
    """The endpoint's state, instances, model, image, autoscaling and backlog."""
    from ..status import endpoint_status

    app = current(ctx)
    app.output.show(endpoint_status(app.clients), render.render_status)


def logs(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events")
    ] = False,
    since: Annotated[str, typer.Option(help="How far back, e.g. 10m, 2h")] = "10m",
    requests: Annotated[
        bool,
        typer.Option("--requests", help="Only the request lines, as a table: id, status, timings"),
    ] = False,
) -> None:
    """Print the endpoint's CloudWatch logs (JSON lines under --json)."""
    from ..durations import parse_duration
    from ..logs import read_events, request_lines

    app = current(ctx)
    events = read_events(app.clients, parse_duration(since), follow)
    if not requests:
        for event in events:
            app.output.show_line(event, render.render_log_event)
        return
    row = render.request_table()
    shown = 0
    for line in request_lines(events):
        app.output.show_line(line, row)
        shown += 1
    if not shown:
        app.output.info(f"no request lines in the last {since}")


def delete(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    topics: Annotated[bool, typer.Option(help="Also delete the SNS topics")] = False,
    purge: Annotated[
        bool, typer.Option(help="Also delete this endpoint's outputs and failures in S3")
    ] = False,
    dry_run: DryRun = False,
) -> None:
    """Delete the endpoint, its wasync configs and models, and its autoscaling."""
    from ..teardown import delete as run_delete
    from ..teardown import plan_delete

    app = current(ctx)
    plan = plan_delete(app.clients, topics=topics, purge=purge)
    if dry_run:
        app.output.show(plan, render.render_delete_plan)
        return
    if yes:
        render.render_delete_warning(app.output.err, plan)
    elif plan.steps:
        render.render_delete_plan(app.output.err, plan)
        if not sys.stdin.isatty():  # a script: nobody can answer, and a prompt would read EOF
            raise UsageError(
                f"delete would remove the {len(plan.steps)} resources of {plan.endpoint} above "
                "and needs a yes; there is no terminal to ask",
                "pass --yes",
            )
        if not typer.confirm(f"Delete {len(plan.steps)} resources of {plan.endpoint}?", err=True):
            app.output.err.print("nothing deleted")
            raise typer.Exit(int(ExitCode.FAILURE))
    app.output.show(run_delete(app.clients, plan), render.render_delete)


def iam(
    ctx: typer.Context,
    create: Annotated[
        bool, typer.Option("--create", help="Create or update the execution role")
    ] = False,
    notify_queue: Annotated[
        str | None,
        typer.Option(
            help="The SQS queue URL `transcribe --notify-queue` reads [default: wasync-*]"
        ),
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Print least-privilege policies: the execution role's and a user policy for wasync."""
    from .. import iam as policies

    app = current(ctx)
    if not create:
        app.output.show(policies.documents(app.clients, notify_queue), render.render_iam)
        return
    plan = policies.plan_role(app.clients, notify_queue)
    if dry_run:
        app.output.show(plan, render.render_role_plan)
        return
    app.output.show(policies.create_role(app.clients, plan), render.render_iam)


def config_show(ctx: typer.Context) -> None:
    """Print every setting with where its value came from (flag, env, file or default)."""
    from ..redaction import hide_credentials
    from ..settings import FIELDS, url_source

    settings = current(ctx).settings
    rows = [(name, getattr(settings, name), settings.sources.get(name, "")) for name in FIELDS]
    rows += [
        (url_source(k), hide_credentials(v), settings.sources.get(url_source(k), ""))
        for k, v in sorted(settings.endpoint_urls.items())
    ]
    report = {name: {"value": value, "source": source} for name, value, source in rows}
    shown = [(name, _unset(name) if value is None else value, src) for name, value, src in rows]
    current(ctx).output.show(
        report,
        lambda console, _: console.print(render.table(["setting", "value", "source"], shown)),
    )


# What an unset setting means, for `config show`'s table (its JSON keeps null).
UNSET = {
    "region": "(the AWS profile's)",
    "aws_profile": "(boto3's default chain)",
    "bucket": "sagemaker-{region}-{account}",
    "role_arn": "(remembered by `iam --create`, else --role)",
    "image_uri": "(remembered by `build`, else --image)",
}


def _unset(name: str) -> str:
    return UNSET.get(name, "(unset)")
