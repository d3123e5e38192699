"""An emulated endpoint's hosting: instances, workers, the job queue, model folders.

Real EndpointHosts, real container processes (tests/helpers/fake_container.py: the container
contract without a model, so each test takes seconds) and moto in-process for S3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers.hosting import BUCKET, Hosting, hosting, model_folders, stats
from tests.helpers.waiting import wait_until
from whisper_async.local.hosting import EndpointHost, describe
from whisper_async.local.jobqueue import Job, job_for

__all__ = ["hosting"]  # the fixture, used by name


def test_update_to_a_lower_concurrency_runs_fewer_jobs_at_once(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("three", max_concurrency=3))
    host.update(hosting.deployment("one", max_concurrency=1))
    wait_until(
        lambda: host.state().status == "InService" and host.state().config_name == "one",
        "the update to one job at a time",
    )
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(3)]
    wait_until(
        lambda: host.dispatcher.queue.counts() == (2, 1) and stats(host)["running"] == 1,
        "one job running and two waiting",
    )
    hosting.release()
    assert [hosting.wait_result(job)[0] for job in jobs] == ["output"] * 3
    assert stats(host)["peak"] == 1 and stats(host)["served"] == 3
    assert [i["workers"] for i in describe(host)["instances"]] == [1]


def test_instances_share_the_endpoint_queue(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("two", instance_count=2))
    assert host.state().current_instances == 2
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(2)]
    wait_until(
        lambda: stats(host, 0)["running"] == 1 and stats(host, 1)["running"] == 1,
        "one job on each instance",
    )
    hosting.release()
    outputs = [json.loads(hosting.wait_result(job)[1]) for job in jobs]
    assert len({output["pid"] for output in outputs}) == 2


def busy_endpoint(hosting: Hosting) -> tuple[EndpointHost, Job]:
    """An endpoint with one worker, busy with a job that runs until `hosting.release()`."""
    host = hosting.in_service(hosting.deployment("one"))
    hosting.hold()
    running = hosting.submit(host)
    wait_until(lambda: stats(host)["running"] == 1, "the first job running")
    return host, running


def test_a_queued_job_past_its_ttl_fails_with_the_reason_while_no_worker_is_free(
    hosting: Hosting,
) -> None:
    host, running = busy_endpoint(hosting)
    waiting = hosting.submit(host, RequestTTLSeconds=1)
    kind, body = hosting.wait_result(waiting)
    assert kind == "failure"
    assert json.loads(body)["error"] == "request_expired"
    assert "RequestTTLSeconds of 1" in json.loads(body)["message"]
    hosting.release()
    assert hosting.wait_result(running)[0] == "output"
    assert stats(host)["served"] == 1  # the expired job never reached the container


def test_drain_fails_unfinished_jobs_once_and_drops_their_late_results(
    hosting: Hosting,
) -> None:
    host, running = busy_endpoint(hosting)
    waiting = hosting.submit(host)
    assert sorted(host.drain(grace=0)) == sorted([running.inference_id, waiting.inference_id])
    for job in (running, waiting):
        kind, body = hosting.wait_result(job)
        assert kind == "failure" and json.loads(body)["error"] == "stack_stopped"
    assert not host.accept(job_for(host.name, {}, host.deployment, None))
    hosting.release()
    wait_until(
        lambda: stats(host)["served"] == 1 and describe(host)["instances"][0]["running"] == 0,
        "the abandoned request to end",
    )
    key = running.output_location.split("/", 3)[3]
    assert "Contents" not in hosting.s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


def test_a_failed_endpoint_fails_its_queued_jobs_with_the_reason(hosting: Hosting) -> None:
    broken = hosting.deployment("broken", environment={"FAKE_EXIT": "3"})
    host = hosting.host(broken)
    job = hosting.submit(host)  # queued while the endpoint is Creating
    wait_until(lambda: host.state().status == "Failed", "the endpoint to fail")
    assert "exited with code 3" in str(host.state().failure_reason)
    kind, body = hosting.wait_result(job)
    assert kind == "failure" and json.loads(body)["error"] == "endpoint_unavailable"
    assert "exited with code 3" in json.loads(body)["message"]
    assert model_folders(hosting) == []  # nothing of a failed creation stays on disk


def test_models_go_when_an_update_supersedes_them_or_the_endpoint_is_deleted(
    hosting: Hosting,
) -> None:
    host = hosting.in_service(hosting.deployment("first"))
    [first] = model_folders(hosting)
    host.update(hosting.deployment("second"))
    wait_until(
        lambda: host.state().config_name == "second" and first not in model_folders(hosting),
        "the superseded model folder to go",
    )
    assert len(model_folders(hosting)) == 1
    hosting.hold()
    job = hosting.submit(host)
    wait_until(lambda: stats(host)["running"] == 1, "a job running")
    host.close()
    kind, body = hosting.wait_result(job)
    assert kind == "failure" and "was deleted" in json.loads(body)["message"]
    assert model_folders(hosting) == []


def test_no_path_is_made_from_a_client_supplied_name(hosting: Hosting, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = hosting.deployment(f"{outside}/config")  # validation is bypassed on purpose
    host = hosting.in_service(hostile, name=f"../../{outside.name}/endpoint")
    assert hosting.wait_result(hosting.submit(host))[0] == "output"
    assert list(outside.iterdir()) == []
    state = tmp_path / "state"
    written = [p for p in tmp_path.rglob("*") if p != hosting.gate and p != outside]
    assert all(p.is_relative_to(state) for p in written), written


def test_log_lines_a_failed_put_would_lose_are_shipped_at_the_next_flush(moto_clients) -> None:  # type: ignore[no-untyped-def]
    """CloudWatch Logs refusing one PutLogEvents (a moto hiccup) loses no container line."""
    import dataclasses

    from whisper_async.local.sink import AwsClients, AwsSink

    class RefusesOnce:
        def __init__(self, logs: Any) -> None:
            self.logs, self.refused = logs, False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.logs, name)

        def put_log_events(self, **params: Any) -> Any:
            if not self.refused:
                self.refused = True
                raise RuntimeError("CloudWatch Logs did not answer")
            return self.logs.put_log_events(**params)

    aws = AwsClients.from_clients(moto_clients)
    sink = AwsSink("whisper", dataclasses.replace(aws, logs=RefusesOnce(aws.logs)))
    sink.record_log("i-1", "first line")
    sink.flush_logs()
    sink.record_log("i-1", "second line")
    sink.flush_logs()
    events = aws.logs.get_log_events(
        logGroupName="/aws/sagemaker/Endpoints/whisper", logStreamName="AllTraffic/i-1"
    )["events"]
    assert [e["message"] for e in events] == ["first line", "second line"]
