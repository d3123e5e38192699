"""Every install path works: each extra declares what its modules import, and each install runs.

Two halves:
- the import graph (fast): every import the package's modules make, lazy ones included, read
  with ast and checked against what pyproject.toml declares for the extra that owns the module
  (whisper_async/extras.py). A missing declaration fails here, whatever happens to be
  installed in the test venv.
- the install matrix (slow, marker `install_matrix`): throw-away venvs holding the built wheel
  with one extra and only what its metadata requires (tests/helpers/venvs.py), where the
  commands a user of that install runs must work, and the engines must be absent.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.helpers import venvs
from tests.helpers.declared import (
    PROJECT_ROOT,
    declared,
    import_providers,
    pyproject,
    uncovered,
)
from tests.helpers.import_graph import Import, scan
from tests.helpers.processes import stop
from whisper_async import __version__
from whisper_async.extras import owner
from whisper_async.local.runtime import free_port

# The first botocore (and boto3) release whose InvokeEndpointAsync takes an inline `Body`:
# found by reading botocore/data/sagemaker-runtime/2017-05-13/service-2.json.gz in each release
# between 1.43.11 (no Body) and 1.44.8; 1.43.28 has none, 1.43.29 has it.
FIRST_BOTO_WITH_INLINE_BODY = Version("1.43.29")


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return scan(PROJECT_ROOT, "whisper_async")


def without(project: dict[str, Any], extra: str, distribution: str) -> dict[str, Any]:
    """pyproject with one requirement taken out of one extra (or the base list)."""
    changed = copy.deepcopy(project)
    meta = changed["project"]
    lists = meta["dependencies"] if extra == "base" else meta["optional-dependencies"][extra]
    kept = [r for r in lists if Requirement(r).name.lower() != distribution]
    assert len(kept) == len(lists) - 1, f"{distribution} is not in {extra}"
    lists[:] = kept
    return changed


# --- the import graph ---------------------------------------------------------------------


def test_every_import_is_declared_by_the_extra_its_users_install(imports: list[Import]) -> None:
    problems = uncovered(imports, declared(pyproject()), import_providers(), owner)
    assert problems == [], "\n".join(problems)


def test_the_graph_holds_lazy_imports_with_their_owner_and_extra_blocks(
    imports: list[Import],
) -> None:
    def found(module: str, scope: str, target: str) -> Import:
        matches = [i for i in imports if (i.module, i.scope, i.target) == (module, scope, target)]
        assert matches, f"{module} {scope} imports {target}: not seen"
        return matches[0]

    assert found("whisper_async.local.stack", "", "httpx")
    engines = "whisper_async.serving.engines"
    faster = found(engines, "FasterWhisperEngine.__init__", "faster_whisper")
    assert owner(faster.module, faster.scope) == "serve"
    openai = found(engines, "OpenAIWhisperEngine.__init__", "whisper")
    assert owner(openai.module, openai.scope) == "openai"
    boundary = found("whisper_async.cli.local_commands", "local_up", "whisper_async.local.stack")
    assert boundary.extras == {"local"}
    assert owner("whisper_async.cli.app") == "base"


@pytest.mark.parametrize(
    ("extra", "distribution", "module", "imported"),
    [
        ("local", "httpx", "whisper_async.local.stack", "httpx"),
        ("local", "moto", "whisper_async.local.motoserver", "moto"),
        ("serve", "faster-whisper", "whisper_async.serving.engines", "faster_whisper"),
        ("serve", "av", "whisper_async.serving.audio", "av"),
        ("openai", "torch", "whisper_async.serving.engines", "torch"),
        ("base", "botocore", "whisper_async.aws", "botocore"),
        ("hub", "huggingface_hub", "whisper_async.models", "huggingface_hub"),
    ],
)
def test_a_requirement_taken_out_of_an_extra_is_caught(
    imports: list[Import], extra: str, distribution: str, module: str, imported: str
) -> None:
    broken = declared(without(pyproject(), extra, distribution))
    problems = uncovered(imports, broken, import_providers(), owner)
    assert any(p.startswith(f"{module}:") and f" {imported}" in p for p in problems), problems


def test_an_import_from_a_bigger_extra_without_a_needs_extra_block_is_caught(
    imports: list[Import],
) -> None:
    # `wasync local up` importing the stack outside its `needs_extra("local")` block
    unguarded = [
        Import(i.module, i.scope, i.target, i.name, i.line, frozenset(), i.guarded) for i in imports
    ]
    problems = uncovered(unguarded, declared(pyproject()), import_providers(), owner)
    assert any("whisper_async.cli.local_commands" in p and "local" in p for p in problems)


# --- what the metadata says -----------------------------------------------------------------


def base_requirement(name: str) -> Requirement:
    for text in pyproject()["project"]["dependencies"]:
        requirement = Requirement(text)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a base requirement")


def test_installed_botocore_takes_an_inline_body_for_invoke_endpoint_async() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    shape = model.operation_model("InvokeEndpointAsync").input_shape
    assert "Body" in shape.members
    assert "InputLocation" not in shape.required_members


@pytest.mark.parametrize("name", ["boto3", "botocore"])
def test_boto_floor_is_the_first_release_with_an_inline_body(name: str) -> None:
    specifier = base_requirement(name).specifier
    floors = [Version(s.version) for s in specifier if s.operator == ">="]
    assert floors == [FIRST_BOTO_WITH_INLINE_BODY]
    assert not specifier.contains("1.43.28")


def test_ci_tests_the_lowest_and_the_newest_supported_python() -> None:
    project = pyproject()["project"]
    floor = SpecifierSet(project["requires-python"])
    prefix = "Programming Language :: Python :: 3."
    classified = sorted(
        (
            c.removeprefix("Programming Language :: Python :: ")
            for c in project["classifiers"]
            if c.startswith(prefix)
        ),
        key=Version,
    )
    lowest = Version(classified[0])
    assert lowest in floor and Version(f"3.{lowest.minor - 1}") not in floor
    workflow = yaml.safe_load((PROJECT_ROOT / ".github/workflows/ci.yml").read_text())
    versions = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert sorted(versions, key=Version) == [classified[0], classified[-1]]


# --- the install matrix ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return venvs.build_wheel(tmp_path_factory.mktemp("wheel"))


def fails_to_import(venv: venvs.Venv, module: str) -> bool:
    result = venv.run("python", "-c", f"import {module}")
    return result.returncode != 0 and f"No module named '{module}'" in result.stderr


@pytest.mark.slow
@pytest.mark.install_matrix
def test_the_build_prints_no_warnings_declares_the_license_and_ships_the_image_locks(
    wheel: tuple[Path, str],
) -> None:
    path, log = wheel
    assert "deprecat" not in log.lower(), log
    # setuptools' wall about a folder it finds importable but not listed (every editable
    # install, `make demo` included, printed it for container/requirements/)
    assert "Package would be ignored" not in log, log
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        (name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
        assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    for variant in ("faster", "openai"):  # `wasync build` reads them from the installed package
        for suffix in ("in", "txt"):
            assert f"whisper_async/container/requirements/{variant}.{suffix}" in names
    # every module of the source tree: a subpackage left out of pyproject's list (jobs/ was)
    # broke transcribe, fetch and jobs in a wheel while an editable install hid it
    sources = {
        str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "whisper_async").rglob("*.py")
    }
    sources |= {
        f"whisper_async/{p.relative_to(PROJECT_ROOT)}"
        for p in (PROJECT_ROOT / "container").rglob("*.py")
    }
    assert sources - set(names) == set()


@pytest.mark.slow
@pytest.mark.install_matrix
def test_base_install_runs_the_cli_and_holds_no_engine_or_stack(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    venv = venvs.create(tmp_path / "base", wheel[0], [])

    shown = venv.run("wasync", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "transcribe" in shown.stdout
    version = venv.run("wasync", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"wasync {__version__}")
    config = venv.run("wasync", "--json", "config", "show")
    assert config.returncode == 0, config.stderr
    assert '"endpoint"' in config.stdout
    # the job commands' modules load only when one runs: `jobs` imports them, then reads --since
    jobs = venv.run("wasync", "jobs", "--since", "bogus")
    assert (jobs.returncode, "'bogus' is not a duration") == (2, jobs.stderr.splitlines()[0][7:])

    for module in ("torch", "ctranslate2", "moto", "faster_whisper", "starlette", "httpx"):
        assert fails_to_import(venv, module), module

    local = venv.run("wasync", "local", "up", "--state-dir", str(tmp_path / "stack"))
    assert local.returncode == 2, local.stdout + local.stderr
    assert "pip install 'wasync[local]'" in local.stderr
    assert "Traceback" not in local.stderr

    serve = venv.run("wasync-serve", "serve", "--host", "127.0.0.1", "--port", "1")
    assert serve.returncode == 2, serve.stdout + serve.stderr
    assert "pip install 'wasync[serve]'" in serve.stderr
    assert "Traceback" not in serve.stderr


@pytest.mark.slow
@pytest.mark.install_matrix
def test_local_install_starts_reports_and_stops_the_stack(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    venv = venvs.create(tmp_path / "local", wheel[0], ["local"])
    state = str(tmp_path / "stack")
    assert fails_to_import(venv, "torch")

    up = venv.run("wasync", "local", "up", "--state-dir", state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = venv.run("wasync", "--json", "local", "status", "--state-dir", state)
        assert status.returncode == 0, status.stdout + status.stderr
        assert '"running": true' in status.stdout
    finally:
        down = venv.run("wasync", "local", "down", "--state-dir", state)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "local stack stopped" in down.stdout
    after = venv.run("wasync", "local", "status", "--state-dir", state)
    assert after.returncode == 1
    assert "no local stack" in after.stdout


@contextmanager
def serving(
    venv: venvs.Venv, model_dir: Path, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`wasync-serve serve` from the venv on a free loopback port; stopped with SIGTERM."""
    port = free_port()
    argv = [str(venv.bin / "wasync-serve"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*argv, "--model-dir", str(model_dir)],
            cwd=venv.home,
            env=venv.env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process, f"http://127.0.0.1:{port}"
        finally:
            stop(process, grace=60)


def ping_until_ready(process: subprocess.Popen[bytes], url: str, limit: float = 600) -> int:
    """Poll /ping until it answers 200 or the server exits; return the last status."""
    deadline = time.monotonic() + limit  # a ceiling for a hung server, not a wait
    status = 0
    while process.poll() is None and time.monotonic() < deadline:
        try:
            status = httpx.get(f"{url}/ping", timeout=5).status_code
        except httpx.TransportError:
            status = 0
        if status == 200:
            break
        time.sleep(0.1)
    return status


@pytest.mark.slow
@pytest.mark.install_matrix
def test_serve_install_answers_ping_without_torch(
    wheel: tuple[Path, str], tmp_path: Path, tiny_en_dir: Path
) -> None:
    venv = venvs.create(tmp_path / "serve", wheel[0], ["serve"])
    for module in ("torch", "whisper", "moto"):
        assert fails_to_import(venv, module), module

    log = tmp_path / "serve.log"
    with serving(venv, tiny_en_dir, log) as (process, url):
        assert ping_until_ready(process, url) == 200, log.read_text()
    # uvicorn re-raises SIGTERM once drained, so a clean stop reads -SIGTERM
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()
