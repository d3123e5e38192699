"""The local stack's background process: moto server, the SageMaker emulator, the containers."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..clients import Clients
from ..files import write_atomically
from ..settings import SERVICES, Settings
from .containers import RUNTIMES
from .deployment import Deployment
from .extraction import DEFAULT_MAX_MODEL_BYTES
from .hosting import EndpointHost, HostingContext, Launcher
from .modelstore import ModelStore
from .profile import LOCAL_ACCOUNT, LOCAL_REGION, PLACEHOLDER_KEY, STACK_FILE
from .runtime import free_port, ports_taken, start_container
from .sdkconfig import default_bucket, write_sdk_config
from .sink import AwsClients
from .supervisor import ContainerHandle
from .timescale import TimeScale

DOWN_REQUEST = "down-request.json"
UNFINISHED = "unfinished.json"
SETTLE_SECONDS = 30  # for containers still starting to stop (`local down` waits grace + 60)
log = logging.getLogger("wasync.local")


def launcher(runtime: str) -> Launcher:
    def launch(
        deployment: Deployment, model_dir: Path, log_path: Path, on_log: Callable[[str], None]
    ) -> ContainerHandle:
        return start_container(
            runtime, deployment.image, model_dir, deployment.environment, log_path, on_log
        )

    return launch


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasync-local-daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--runtime", choices=RUNTIMES, default="process")
    parser.add_argument("--max-model-bytes", type=int, default=DEFAULT_MAX_MODEL_BYTES)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    import boto3
    import uvicorn

    from . import motoscaling, scalabletargets
    from .autoscaling import MinuteClock, SageMakerCapacity
    from .conditional_writes import serialise_object_writes
    from .control import ControlPlane
    from .emulator import create_emulator
    from .motoserver import GuardedMotoServer
    from .scaler import Scaler

    motoscaling.install()  # before moto serves: scaling activities, target tracking alarms
    time_scale = TimeScale(args.time_scale)

    serialise_object_writes()  # S3's conditional writes are atomic; moto's must be too

    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    moto_port = args.port or free_port()
    emulator_port = args.port + 1 if args.port else free_port()
    taken = ports_taken(moto_port, emulator_port)
    if taken:  # moto's server thread would fail, and its start() wait for ever
        log.error("%s in use by another program or another local stack", taken)
        return 1
    moto = GuardedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto_port}"
    session = boto3.session.Session(
        aws_access_key_id=PLACEHOLDER_KEY,
        aws_secret_access_key=PLACEHOLDER_KEY,
        region_name=LOCAL_REGION,
    )
    aws = Clients(
        Settings(region=LOCAL_REGION, endpoint_urls=dict.fromkeys(SERVICES, moto_url)),
        session=session,
    )
    models = ModelStore(state_dir / "models", aws.client("s3"), args.max_model_bytes)
    models.clear()  # what a stack that crashed left behind
    context = HostingContext(
        aws=AwsClients.from_clients(aws),  # made here, once, before any thread needs one
        models=models,
        launcher=launcher(args.runtime),
        logs_dir=state_dir / "logs",
        time_scale=time_scale,
    )
    plane = ControlPlane(
        LOCAL_REGION, lambda name, deployment: EndpointHost(name, deployment, context)
    )
    scalabletargets.install(scalabletargets.variants_via(plane.call))  # before clients connect
    app = create_emulator(plane, state_dir / "spool")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=emulator_port, log_config=None, access_log=False)
    )
    serving = threading.Thread(target=server.run, name="emulator", daemon=True)
    serving.start()
    while not server.started and serving.is_alive():
        threading.Event().wait(0.05)
    if not server.started:
        log.error("the SageMaker emulator could not start on port %d", emulator_port)
        moto.stop()
        return 1

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    write_sdk_config(state_dir, default_bucket(LOCAL_REGION, LOCAL_ACCOUNT))
    write_atomically(
        state_dir / STACK_FILE,
        json.dumps(
            {
                "pid": os.getpid(),
                "moto_url": moto_url,
                "sagemaker_url": f"http://127.0.0.1:{emulator_port}",
                "runtime": args.runtime,
                "time_scale": time_scale.factor,
            },
            indent=2,
        ),
    )
    view = motoscaling.MotoScalingView(aws.client, LOCAL_ACCOUNT, LOCAL_REGION)
    scaler = Scaler(view, SageMakerCapacity(plane.call), time_scale)
    MinuteClock(time_scale, plane.hosts, scaler).start(stop)
    log.info(
        "local stack ready: moto %s, sagemaker http://127.0.0.1:%d, time scale %g",
        moto_url,
        emulator_port,
        time_scale.factor,
    )
    stop.wait()

    grace = 30.0
    with contextlib.suppress(OSError, ValueError, KeyError):
        grace = float(json.loads((state_dir / DOWN_REQUEST).read_text())["grace"])
    log.info("stopping: waiting up to %.0fs for running jobs", grace)
    unfinished: list[dict[str, str]] = []
    hosts = plane.hosts()
    for host in hosts:
        host.dispatcher.close()
    deadline = time.monotonic() + grace
    for host in hosts:
        left = max(0.0, deadline - time.monotonic())
        unfinished += [{"endpoint": host.name, "inference_id": i} for i in host.drain(left)]
    for host in hosts:
        # Past --grace, a serving process still busy holds only unfinished jobs: it is not
        # given the 5 s an idle one has to exit cleanly (`local down --grace 2` took 12 s).
        host.close(grace=1 if unfinished else 5)
    # A container still starting when its endpoint closed (or was deleted just before) stops
    # within seconds, from a thread of this process: exiting first would leave it running.
    settled = time.monotonic() + SETTLE_SECONDS
    for work in [*(host.background for host in hosts), *context.departing.still_running()]:
        if not work.join(settled):
            log.warning("endpoint %s: its instances did not stop in time", work.label)
    write_atomically(state_dir / UNFINISHED, json.dumps(unfinished, indent=2))
    server.should_exit = True
    serving.join(timeout=10)
    moto.stop()
    (state_dir / STACK_FILE).unlink(missing_ok=True)
    log.info("stopped; %d unfinished job(s)", len(unfinished))
    return 0


if __name__ == "__main__":
    sys.exit(main())
