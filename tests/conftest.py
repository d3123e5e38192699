from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import models

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def interruptible() -> Iterator[None]:
    """Python's Ctrl-C handler, which the Ctrl-C tests (`ctrl_c`) rely on. A shell without job
    control starts a background job (`make test &` in a script) with SIGINT ignored, and Python
    then never raises KeyboardInterrupt: those tests failed, or hung until their timeout."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_en_dir() -> Path:
    return models.tiny_en_ctranslate2()


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.assemble_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="session")
def tiny_en_pt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.tiny_en_openai(tmp_path_factory.mktemp("openai-tiny-en")).parent


@pytest.fixture(scope="session")
def faster_tiny_en(tiny_en_dir: Path):  # type: ignore[no-untyped-def]
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    return FasterWhisperEngine(tiny_en_dir, "tiny.en", "cpu", "int8", cpu_threads({}))


@pytest.fixture(scope="session")
def faster_base(base_dir: Path):  # type: ignore[no-untyped-def]
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    return FasterWhisperEngine(base_dir, "base", "cpu", "int8", cpu_threads({}))


@pytest.fixture(scope="session")
def openai_tiny_en(tiny_en_pt_dir: Path):  # type: ignore[no-untyped-def]
    from whisper_async.serving.engines import OpenAIWhisperEngine

    return OpenAIWhisperEngine(tiny_en_pt_dir / "tiny.en.pt", "tiny.en", "cpu", fp16=False)


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake credentials, a fixed region and private config/state folders for one test."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "WASYNC_PROFILE",
        "WASYNC_BUCKET",
        "WASYNC_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("WASYNC_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture
def moto_clients(aws_env: Path):  # type: ignore[no-untyped-def]
    """Clients against moto, in-process."""
    from moto import mock_aws

    from whisper_async.clients import Clients
    from whisper_async.local.motoscaling import serve_scaling_activities
    from whisper_async.settings import resolve

    serve_scaling_activities()  # an AWS API moto lacks; `wasync status` reads it
    with mock_aws():
        yield Clients(resolve({}))


@pytest.fixture
def s3(moto_clients):  # type: ignore[no-untyped-def]
    """moto's S3 with wasync's bucket, its conditional writes atomic as on S3 (job claims)."""
    from whisper_async.local.conditional_writes import serialise_object_writes

    serialise_object_writes()
    client = moto_clients.client("s3")
    client.create_bucket(Bucket=moto_clients.bucket)
    return client


@pytest.fixture
def bucket(moto_clients) -> str:  # type: ignore[no-untyped-def]
    return str(moto_clients.bucket)


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One local stack for the session, with tiny.en deployed as `whisper`."""
    from tests.helpers.stack import running_stack

    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        pushed = stack.cli("push-model", str(models.tiny_en_ctranslate2()), "--name", "tiny.en")
        assert pushed.exit_code == 0, pushed.output
        deployed = stack.cli("deploy", "--instance", "ml.g5.xlarge", "--notify")
        assert deployed.exit_code == 0, deployed.output
        yield stack


@pytest.fixture
def local_stack(shared_stack):  # type: ignore[no-untyped-def]
    """The shared stack, once the jobs earlier tests left behind have finished."""
    shared_stack.wait_idle()
    return shared_stack


@pytest.fixture
def own_endpoint(local_stack):  # type: ignore[no-untyped-def]
    """An endpoint for this test alone on the shared stack (tiny.en, SNS topics), deleted after:
    no other test's job queues on it, and no job it leaves behind delays another test."""
    with local_stack.own_endpoint() as name:
        yield name
