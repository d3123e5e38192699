"""The lifecycle commands: build, push-model, deploy, autoscale, status, logs, delete, iam."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app
from .context import current, handled
from .render import rich_progress_factory

if TYPE_CHECKING:
    from ..status import EndpointStatus


@app.command()
@handled
def build(
    ctx: typer.Context,
    tag: Annotated[
        str | None, typer.Option(help="Image tag [default: version plus content hash]")
    ] = None,
    platform: Annotated[str, typer.Option(help="Target platform")] = "linux/amd64",
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push to ECR after building")
    ] = True,
    builder: Annotated[
        str | None, typer.Option(help="docker, podman or finch [default: first found]")
    ] = None,
) -> None:
    """Build the serving image and push it to ECR; the URI becomes deploy's default."""
    from ..image import build_image

    app_ctx = current(ctx)
    result = build_image(app_ctx.clients, tag=tag, platform=platform, push=push, builder=builder)
    app_ctx.output.result(result, lambda out: out.print(result.image_uri))


@app.command("push-model")
@handled
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
    from ..models import push_model as push

    app_ctx = current(ctx)
    with app_ctx.output.transfer_progress() as bar:
        result = push(
            app_ctx.clients, source, engine=engine, name=name, progress=rich_progress_factory(bar)
        )
    if result.skipped:
        app_ctx.output.info(
            f"{result.uri} already holds these weights (sha256 {result.sha256[:12]}); upload skipped"
        )
    app_ctx.output.result(result, lambda out: out.print(result.uri))


@app.command()
@handled
def deploy(
    ctx: typer.Context,
    instance: Annotated[
        str, typer.Option("--instance", help="Instance type, e.g. ml.g5.xlarge")
    ] = "ml.g5.xlarge",
    model: Annotated[
        str | None, typer.Option(help="Model S3 URI, or 'last' [default: last pushed]")
    ] = None,
    image_uri: Annotated[
        str | None,
        typer.Option(
            "--image-uri", help="Image URI, or 'last' [default: --image, then last built]"
        ),
    ] = None,
    max_concurrency: Annotated[int, typer.Option(help="Concurrent jobs per instance")] = 1,
    initial_count: Annotated[int, typer.Option(help="Instances at creation")] = 1,
    notify: Annotated[
        bool, typer.Option(help="Create SNS success/error topics and notify them")
    ] = False,
    startup_timeout: Annotated[
        int, typer.Option(help="Container health-check timeout, seconds")
    ] = 1800,
    download_timeout: Annotated[int, typer.Option(help="Model download timeout, seconds")] = 1800,
    compute_type: Annotated[
        str | None, typer.Option(help="Engine compute type, e.g. float16, int8_float16")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Default language for requests that set none")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Default batch size for requests that set none; 1 decodes in sequence "
            "[default: the engine's: 8 on CPU, 16 on GPU]"
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until InService")] = True,
    timeout: Annotated[str, typer.Option(help="How long to wait, e.g. 30m")] = "45m",
    dry_run: Annotated[bool, typer.Option(help="Print the API calls and change nothing")] = False,
) -> None:
    """Create (or update in place) the model, endpoint config and async endpoint."""
    from ..endpoint import DeployRequest, plan_deploy
    from ..endpoint import deploy as run_deploy
    from ..logs import parse_duration

    app_ctx = current(ctx)
    out = app_ctx.output
    wait_seconds = parse_duration(timeout)
    request = DeployRequest(
        instance_type=instance,
        model_uri=model,
        image_uri=image_uri,
        max_concurrency=max_concurrency,
        initial_count=initial_count,
        notify=notify,
        startup_timeout=startup_timeout,
        download_timeout=download_timeout,
        compute_type=compute_type,
        default_language=language,
        default_batch_size=batch_size,
    )
    plan = plan_deploy(app_ctx.clients, request)
    for warning in plan.warnings:
        out.warn(warning)
    if dry_run:
        calls = "\n".join(f"{c.operation}({json.dumps(c.params, indent=2)})" for c in plan.calls)
        out.result(plan, lambda o: o.print(calls, markup=False))
        return
    out.info(f"{plan.action.capitalize()} endpoint {plan.endpoint} with {plan.model_uri}")
    with out.live_line() as update:

        def on_status(status: str, elapsed: float) -> None:
            update(f"{plan.endpoint}: {status} ({int(elapsed)}s elapsed)")

        result = run_deploy(
            app_ctx.clients, plan, wait=wait, timeout=wait_seconds, on_status=on_status
        )
    for removed in result.removed:
        out.debug(f"removed superseded {removed}")
    out.result(result, lambda o: o.print(f"{result.endpoint}: {result.status}"))


@app.command()
@handled
def autoscale(
    ctx: typer.Context,
    min_capacity: Annotated[
        int, typer.Option("--min", help="Minimum instances (0 scales to zero)")
    ] = 0,
    max_capacity: Annotated[int, typer.Option("--max", help="Maximum instances")] = 1,
    target: Annotated[float, typer.Option(help="Queued requests per instance to aim for")] = 2.0,
    scale_in_cooldown: Annotated[int, typer.Option(help="Seconds between scale-ins")] = 600,
    scale_out_cooldown: Annotated[int, typer.Option(help="Seconds between scale-outs")] = 60,
    off: Annotated[bool, typer.Option("--off", help="Remove autoscaling")] = False,
) -> None:
    """Scale to zero when idle and out from zero when work arrives (re-run updates in place)."""
    from .. import scaling

    app_ctx = current(ctx)
    if off:
        removed = scaling.disable(app_ctx.clients)
        app_ctx.output.result(
            {"removed": removed},
            lambda o: o.print(f"autoscaling off ({len(removed)} resources removed)"),
        )
        return
    result = scaling.configure(
        app_ctx.clients, min_capacity, max_capacity, target, scale_in_cooldown, scale_out_cooldown
    )
    app_ctx.output.result(
        result,
        lambda o: o.print(
            f"{result.endpoint}: {result.min_capacity}-{result.max_capacity} instances, target backlog "
            f"{result.target_backlog:g}/instance"
            + (", scales out from zero" if result.alarm else "")
        ),
    )


@app.command()
@handled
def status(ctx: typer.Context) -> None:
    """The endpoint's state, instances, model, image, autoscaling and backlog."""
    from ..status import endpoint_status

    app_ctx = current(ctx)
    report = endpoint_status(app_ctx.clients)
    scaling = report.autoscaling

    def human(o: object) -> None:
        app_ctx.output.key_values(
            [
                ("endpoint", report.endpoint),
                (
                    "status",
                    report.status
                    + (f" ({report.failure_reason})" if report.failure_reason else ""),
                ),
                (
                    "instances",
                    f"{report.current_instances} of {report.desired_instances} desired, {report.instance_type}",
                ),
                ("model", report.model_data),
                ("image", report.image),
                ("outputs", report.output_path),
                ("concurrency", report.max_concurrency),
                (
                    "autoscaling",
                    f"{scaling['min']}-{scaling['max']}, target {scaling['target_backlog_per_instance']}"
                    + (", from zero" if scaling["scale_out_from_zero"] else "")
                    if scaling
                    else "off",
                ),
                ("backlog", "no data" if report.backlog is None else f"{report.backlog:g}"),
                (
                    "oldest request",
                    "no data"
                    if report.oldest_request_age_seconds is None
                    else f"{report.oldest_request_age_seconds:g}s",
                ),
                *capacity_lines(report),
            ]
        )
        for warning in report.capacity.warnings:
            app_ctx.output.warn(warning)

    app_ctx.output.result(report, human)


def capacity_lines(report: EndpointStatus) -> list[tuple[str, str]]:
    """Each alarm on the endpoint's metrics, and the latest scaling activity, with ages in AWS
    minutes (on the local stack's compressed clock too)."""
    from ..capacity import age_minutes

    scale = report.time_scale
    lines = [
        ("alarm", f"{a.name}: {a.state} for {age_minutes(a.since, scale)} min")
        for a in report.capacity.alarms
    ]
    activity = report.capacity.latest_activity
    if activity is not None:
        lines.append(
            (
                "last scaling",
                f"{activity.description} {activity.status}, "
                f"{age_minutes(activity.start, scale)} min ago ({activity.cause})",
            )
        )
    if scale != 1:
        lines.append(("clock", f"local stack at --time-scale {scale:g}: minutes are AWS minutes"))
    return lines


@app.command()
@handled
def logs(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events")
    ] = False,
    since: Annotated[str, typer.Option(help="How far back, e.g. 10m, 2h")] = "10m",
) -> None:
    """Print the endpoint's CloudWatch logs."""
    from ..logs import parse_duration, read_events

    app_ctx = current(ctx)
    for event in read_events(app_ctx.clients, parse_duration(since), follow):
        if app_ctx.output.json_mode:
            app_ctx.output.json_line(event)
        else:
            stamp = dt.datetime.fromtimestamp(event.timestamp / 1000, dt.timezone.utc).strftime(
                "%H:%M:%S"
            )
            app_ctx.output.out.print(
                f"[dim]{stamp}[/dim] {event.message}", markup=True, highlight=False
            )


@app.command()
@handled
def delete(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    topics: Annotated[bool, typer.Option(help="Also delete the SNS topics")] = False,
    purge: Annotated[
        bool, typer.Option(help="Also delete this endpoint's outputs and failures in S3")
    ] = False,
) -> None:
    """Delete the endpoint, its wasync configs and models, and its autoscaling."""
    from ..teardown import delete_endpoint

    app_ctx = current(ctx)
    name = app_ctx.settings.endpoint
    if not yes and not typer.confirm(
        f"Delete endpoint {name}" + (" and its S3 results" if purge else "") + "?", err=True
    ):
        raise typer.Exit(1)
    result = delete_endpoint(app_ctx.clients, topics=topics, purge=purge)
    app_ctx.output.result(
        result,
        lambda o: o.print(
            f"deleted {len(result.removed)} resources"
            + (f", {result.purged_objects} objects" if purge else "")
            if result.removed or result.purged_objects
            else f"nothing to delete for {name}"
        ),
    )


@app.command()
@handled
def iam(
    ctx: typer.Context,
    create: Annotated[
        bool, typer.Option("--create", help="Create or update the execution role")
    ] = False,
) -> None:
    """Print least-privilege policies: the execution role's and a user policy for wasync."""
    from .. import iam as iam_docs

    app_ctx = current(ctx)
    docs = iam_docs.create_role(app_ctx.clients) if create else iam_docs.documents(app_ctx.clients)

    def human(o) -> None:
        o.print(
            f"# execution role {docs.role_arn}" + (" (created/updated)" if docs.created else "")
        )
        o.print("# trust policy", json.dumps(docs.trust_policy, indent=2), sep="\n")
        o.print("# execution role policy", json.dumps(docs.execution_policy, indent=2), sep="\n")
        o.print(
            "# user policy for running wasync", json.dumps(docs.user_policy, indent=2), sep="\n"
        )

    app_ctx.output.result(docs, human)


from . import job_commands  # noqa: E402,F401 - registers transcribe, fetch, jobs, local
