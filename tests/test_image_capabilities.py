"""What an image holds: push-model and deploy refuse a model the image cannot load, and the
image's own entry point refuses it too, then drops root."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from whisper_async import image_capabilities, state
from whisper_async.endpoint import DeployRequest, plan_deploy, resolve_inputs
from whisper_async.errors import UsageError
from whisper_async.models import push_model
from whisper_async.serving import image_entry

ROLE = "arn:aws:iam::123456789012:role/wasync"
IMAGE = "registry.example/wasync:0.1.0-faster-abc"


def remember_slim_image(clients) -> None:  # type: ignore[no-untyped-def]
    state.remember(clients.settings, clients.region, "image_uri", IMAGE)
    image_capabilities.remember(clients, IMAGE, ("faster",))


def test_push_model_refuses_an_openai_model_for_the_slim_image(
    moto_clients, tiny_en_pt_dir: Path
) -> None:
    remember_slim_image(moto_clients)
    with pytest.raises(UsageError) as info:
        push_model(moto_clients, str(tiny_en_pt_dir / "tiny.en.pt"))
    assert "needs the openai engine" in info.value.message and IMAGE in info.value.message
    assert "wasync build --engine openai" in (info.value.hint or "")
    buckets = moto_clients.client("s3").list_buckets()["Buckets"]
    assert all(
        moto_clients.client("s3").list_objects_v2(Bucket=b["Name"]).get("KeyCount", 0) == 0
        for b in buckets
    )


def test_push_model_accepts_a_faster_model_for_the_slim_image(
    moto_clients, tiny_en_dir: Path
) -> None:
    remember_slim_image(moto_clients)
    assert push_model(moto_clients, str(tiny_en_dir), name="tiny.en").engine == "faster"


def test_deploy_refuses_an_openai_model_on_the_slim_image_and_accepts_the_openai_image(
    moto_clients,
) -> None:
    remember_slim_image(moto_clients)
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/model.tar.gz", Body=b"x", Metadata={"engine": "openai"})
    request = DeployRequest("ml.g5.xlarge", "s3://models/m/model.tar.gz", IMAGE, ROLE)
    with pytest.raises(UsageError) as info:
        resolve_inputs(moto_clients, request)
    assert info.value.message.startswith("deploy: the model needs the openai engine")

    openai_image = "registry.example/wasync:0.1.0-openai-def"
    image_capabilities.remember(moto_clients, openai_image, ("faster", "openai"))
    request = DeployRequest("ml.g5.xlarge", "s3://models/m/model.tar.gz", openai_image, ROLE)
    assert resolve_inputs(moto_clients, request)[1] == openai_image
    unknown = DeployRequest("ml.g5.xlarge", "s3://models/m/model.tar.gz", "elsewhere/img:1", ROLE)
    assert resolve_inputs(moto_clients, unknown)[1] == "elsewhere/img:1"  # the server decides


def test_the_bfloat16_encoder_is_refused_on_the_slim_image_before_any_change(
    moto_clients,
) -> None:
    remember_slim_image(moto_clients)
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/model.tar.gz", Body=b"x", Metadata={"engine": "faster"})
    request = DeployRequest(
        "ml.c7i.xlarge", "s3://models/m/model.tar.gz", IMAGE, ROLE, cpu_encoder="torch-bfloat16"
    )
    with pytest.raises(UsageError) as info:
        plan_deploy(moto_clients, request)
    assert info.value.message.startswith("--cpu-encoder torch-bfloat16 needs torch")
    assert "--with-openai" in (info.value.hint or "")
    assert moto_clients.client("sagemaker").list_models()["Models"] == []

    # a GPU encodes in CTranslate2 whatever the setting: a warning, not an image to rebuild
    on_gpu = plan_deploy(moto_clients, replace(request, instance_type="ml.g4dn.xlarge"))
    assert any("encodes on its GPU" in w for w in on_gpu.warnings)

    openai_image = "registry.example/wasync:0.1.0-openai-def"
    image_capabilities.remember(moto_clients, openai_image, ("faster", "openai"))
    plan = plan_deploy(moto_clients, replace(request, image_uri=openai_image))
    assert plan.warnings == ()  # ml.c7i has AMX

    # an openai-whisper model: the setting does nothing for it, and deploy says so
    s3.put_object(Bucket="models", Key="o/model.tar.gz", Body=b"x", Metadata={"engine": "openai"})
    openai_model = replace(request, image_uri=openai_image, model_uri="s3://models/o/model.tar.gz")
    assert any(
        "applies to the faster engine" in w
        for w in plan_deploy(moto_clients, openai_model).warnings
    )


def test_entry_point_names_the_image_it_needs_for_the_model(tmp_path: Path) -> None:
    (tmp_path / "tiny.pt").write_bytes(b"")
    problem = image_entry.wrong_image(("faster",), tmp_path)
    assert problem and "needs the openai engine" in problem and "--engine openai" in problem
    assert image_entry.wrong_image(("faster", "openai"), tmp_path) is None
    assert image_entry.wrong_image(None, tmp_path) is None
    image_file = tmp_path / "image.json"
    image_file.write_text(json.dumps({"engines": ["faster"]}))
    assert image_entry.image_engines(image_file) == ("faster",)
    assert image_entry.image_engines(tmp_path / "missing.json") is None


def test_a_model_another_user_cannot_read_keeps_the_server_root(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    model = tmp_path / "model"
    model.mkdir()
    weights = model / "model.bin"
    weights.write_bytes(b"w")
    weights.chmod(0o644)
    assert image_entry.unreadable(nobody, model) is None
    weights.chmod(0o600)
    assert image_entry.unreadable(nobody, model) == weights


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root; CI runs as root")
def test_entry_point_drops_to_the_image_user_when_it_can_read_the_model(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"w")
    (model / "model.bin").chmod(0o644)
    probe = (
        "import os, pathlib, sys\n"
        "from whisper_async.serving.image_entry import drop_privileges\n"
        "print(drop_privileges('nobody', pathlib.Path(sys.argv[1])), os.getuid(), os.getgid())\n"
    )
    nobody = pwd.getpwnam("nobody")
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(model)], capture_output=True, text=True, check=True
    )
    assert ran.stdout.split()[-2:] == [str(nobody.pw_uid), str(nobody.pw_gid)]
    assert "running as nobody" in ran.stdout
    (model / "model.bin").chmod(0o600)
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(model)], capture_output=True, text=True, check=True
    )
    assert ran.stdout.split()[-2:] == ["0", "0"] and "is not readable by nobody" in ran.stdout


class OneClientSession:
    """A boto3-like session that hands out one (stubbed) client."""

    region_name = "us-east-1"

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self._client = client

    def client(self, service: str, **kwargs):  # type: ignore[no-untyped-def]
        return self._client


def test_an_ecr_image_built_elsewhere_is_judged_by_its_label(aws_env: Path) -> None:
    import boto3
    from botocore.stub import Stubber

    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:built-in-ci"
    ecr = boto3.client("ecr", region_name="us-east-1")
    clients = Clients(resolve({}), session=OneClientSession(ecr))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 10, "digest": "sha256:" + "c" * 64},
        "layers": [],
    }  # fmt: skip
    with Stubber(ecr) as stub:
        stub.add_response(
            "batch_get_image",
            {"images": [{"imageManifest": json.dumps(manifest)}], "failures": []},
            {
                "repositoryName": "wasync",
                "imageIds": [{"imageTag": "built-in-ci"}],
                "acceptedMediaTypes": image_capabilities.MANIFEST_TYPES,
            },
        )
        stub.add_response(
            "get_download_url_for_layer",
            {"downloadUrl": "https://layers.example/config", "layerDigest": "sha256:" + "c" * 64},
            {"repositoryName": "wasync", "layerDigest": "sha256:" + "c" * 64},
        )
        fetched: list[str] = []

        def fetch(url: str) -> bytes:
            fetched.append(url)
            return json.dumps({"config": {"Labels": {"io.wasync.engines": "faster"}}}).encode()

        with pytest.raises(UsageError) as info:
            image_capabilities.check_model_fits(clients, uri, "openai", "deploy", fetch)
        assert "holds only faster" in info.value.message
        assert fetched == ["https://layers.example/config"]
        stub.assert_no_pending_responses()
        # remembered: the second check asks ECR nothing (the stub would refuse a call)
        image_capabilities.check_model_fits(clients, uri, "faster", "deploy", fetch)

    with Stubber(ecr) as stub:
        stub.add_client_error("batch_get_image", "ImageNotFoundException")
        unknown = "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:gone"
        assert image_capabilities.engines_of(clients, unknown, fetch) is None
