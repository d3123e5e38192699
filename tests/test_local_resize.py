"""An endpoint's instance count changes while it serves: UpdateEndpointWeightsAndCapacities,
as Application Auto Scaling calls it. More instances run more jobs at once; fewer drain first;
at zero, jobs wait for capacity until their RequestTTLSeconds.

Real EndpointHosts and container processes (tests/helpers/fake_container.py), moto for S3; the
hosting context's clock runs 60x (a RequestTTLSeconds of 60 passes in one second).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.helpers.hosting import Hosting, hosting, stats
from tests.helpers.waiting import wait_until
from whisper_async.local.hosting import EndpointHost, describe

__all__ = ["hosting"]  # the fixture, used by name


def resized(host: EndpointHost, count: int) -> None:
    host.resize(count)
    wait_until(
        lambda: host.state().status == "InService" and host.state().current_instances == count,
        f"{count} instances in service",
    )


def container_pids(host: EndpointHost) -> list[int]:
    return [i["pid"] for i in describe(host)["instances"] if i["pid"]]


def alive(pid: int) -> bool:
    try:
        return (
            Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        )
    except OSError:
        return False


def test_n_instances_run_n_times_the_per_instance_concurrency(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("one", max_concurrency=2))
    resized(host, 3)
    assert (host.state().desired_instances, len(set(container_pids(host)))) == (3, 3)
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(8)]
    wait_until(
        lambda: sum(stats(host, i)["running"] for i in range(3)) == 6,
        "six jobs running: three instances, two each",
    )
    assert host.dispatcher.queue.counts() == (2, 6)
    hosting.release()
    assert [hosting.wait_result(job)[0] for job in jobs] == ["output"] * 8


def test_scaling_in_lets_running_jobs_finish_before_the_instance_stops(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("two", instance_count=2))
    pids = container_pids(host)
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(2)]
    wait_until(
        lambda: stats(host, 0)["running"] + stats(host, 1)["running"] == 2, "two jobs running"
    )
    host.resize(0)
    wait_until(lambda: host.state().current_instances == 0, "both instances out of service")
    assert host.state().status == "Updating"
    assert [i["state"] for i in describe(host)["instances"]] == ["retiring", "retiring"]
    assert all(alive(pid) for pid in pids)  # draining, not stopped
    hosting.release()
    assert [hosting.wait_result(job)[0] for job in jobs] == ["output", "output"]
    wait_until(lambda: host.state().status == "InService", "the scale-in to complete")
    wait_until(lambda: not any(alive(pid) for pid in pids), "the drained containers to stop")
    assert describe(host)["instances"] == []


def test_scaling_in_retires_the_idle_instance_and_keeps_the_busy_one(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("two", instance_count=2))
    hosting.hold()
    job = hosting.submit(host)
    wait_until(lambda: host.dispatcher.queue.counts() == (0, 1), "the job running")
    busy = next(i["pid"] for i in describe(host)["instances"] if i["running"])
    resized(host, 1)
    assert container_pids(host) == [busy]
    hosting.release()
    assert hosting.wait_result(job)[0] == "output"


def test_at_zero_instances_jobs_wait_and_run_when_capacity_returns(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("one"))
    resized(host, 0)
    job = hosting.submit(host)
    assert host.dispatcher.queue.counts() == (1, 0)
    assert hosting.result(job) is None
    resized(host, 1)
    assert hosting.wait_result(job)[0] == "output"


def test_at_zero_instances_a_job_fails_when_its_ttl_passes(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("one"))
    resized(host, 0)
    job = hosting.submit(host, RequestTTLSeconds=60)  # one second on this 60x clock
    kind, body = hosting.wait_result(job)
    failure = json.loads(body)
    assert (kind, failure["error"]) == ("failure", "request_expired")
    assert "RequestTTLSeconds of 60" in failure["message"]


def test_a_failed_scale_out_keeps_what_serves_and_says_why(
    hosting: Hosting, tmp_path: Path
) -> None:
    flag = tmp_path / "new-instances-fail"
    deployment = hosting.deployment("one", environment={"FAKE_EXIT_IF": str(flag)})
    host = hosting.in_service(deployment)
    flag.touch()
    host.resize(3)
    wait_until(lambda: host.state().status == "InService", "the scale-out to end")
    state = host.state()
    assert (state.current_instances, state.desired_instances) == (1, 1)
    assert "Scaling to 3 instances failed" in str(state.failure_reason)
    assert hosting.wait_result(hosting.submit(host))[0] == "output"


def test_deleting_an_endpoint_at_zero_fails_its_queued_jobs(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("one"))
    resized(host, 0)
    job = hosting.submit(host)
    host.close()
    kind, body = hosting.wait_result(job)
    assert (kind, json.loads(body)["error"]) == ("failure", "endpoint_deleted")


def test_metrics_count_the_backlog_and_the_instances_that_serve_it(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("one"))
    resized(host, 0)
    hosting.submit(host)
    host.publish_metrics(1_000_000.0)
    cloudwatch = hosting.context.aws.cloudwatch
    found = {
        m["MetricName"]: m
        for m in cloudwatch.list_metrics(Namespace="AWS/SageMaker")["Metrics"]
        if {"Name": "EndpointName", "Value": host.name} in m["Dimensions"]
    }
    assert set(found) == {
        "ApproximateBacklogSize",
        "ApproximateBacklogSizePerInstance",
        "HasBacklogWithoutCapacity",
        "ApproximateAgeOfOldestRequest",
    }
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="HasBacklogWithoutCapacity",
        Dimensions=[{"Name": "EndpointName", "Value": host.name}],
        StartTime=dt.datetime.fromtimestamp(999_990, dt.timezone.utc),
        EndTime=dt.datetime.fromtimestamp(1_000_010, dt.timezone.utc),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [1.0]
