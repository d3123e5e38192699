"""The one boto3 client factory: every AWS call in wasync goes through a client made here.

Clients are `aws.BoundaryClient`s (botocore errors leave them as wasync's typed errors) with
adaptive retries. boto3 is imported on the first client, never at start-up.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from . import aws, naming
from .errors import ConfigurationError
from .settings import PLACEHOLDER_KEY, SERVICE_ENV_NAMES, Settings, url_source

PROBE_TIMEOUT_SECONDS = 2.0


def _loopback_address(url: str) -> tuple[str, int] | None:
    """(host, port) of an endpoint URL on this machine, else None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (host, port) if loopback else None


def botocore_env_url(service: str) -> tuple[str, str]:
    """The endpoint URL botocore itself takes from the environment for a service, and the
    variable it came from ("" when none)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return "", ""
    own = SERVICE_ENV_NAMES.get(service, service.upper().replace("-", "_"))
    for name in (f"AWS_ENDPOINT_URL_{own}", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name], f"env {name}"
    return "", ""


def check_listening(url: str, source: str) -> None:
    """Refuse an endpoint URL on this machine that nothing answers at: a local stack that has
    stopped while AWS_ENDPOINT_URL_* still point at it. botocore would retry the refused
    connection for about 20 s before failing."""
    address = _loopback_address(url) if url else None
    if address is None:
        return
    try:
        socket.create_connection(address, timeout=PROBE_TIMEOUT_SECONDS).close()
    except OSError:
        variable = source.removeprefix("env ") if source.startswith("env ") else ""
        raise ConfigurationError(
            f"Nothing answers at {url} (from {source or 'the settings'}).",
            "the local stack it points to is not running: start it with `wasync local up`, "
            + (f"or unset {variable} to use AWS" if variable else "or leave it out to use AWS"),
        ) from None


class Clients:
    """Lazily built, cached boto3 clients for one set of settings.

    Clients are made under a lock: worker threads ask for them, and boto3's Session is not
    thread-safe (a client, once made, is).
    """

    def __init__(self, settings: Settings, session: Any | None = None) -> None:
        self.settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()

    @cached_property
    def session(self) -> Any:
        if self._session is not None:
            return self._session
        import boto3

        if self.settings.is_local:
            if "sagemaker" not in self.settings.endpoint_urls:
                raise ConfigurationError(
                    f"The local stack is not running (state dir {self.settings.state_dir}).",
                    "start it with `wasync local up`",
                )
            return boto3.session.Session(
                aws_access_key_id=PLACEHOLDER_KEY,
                aws_secret_access_key=PLACEHOLDER_KEY,
                region_name=self.settings.region,
            )
        return aws.call(
            boto3.session.Session,
            None,
            profile_name=self.settings.aws_profile,
            region_name=self.settings.region,
        )

    @property
    def region(self) -> str:
        region = self.settings.region or self.session.region_name
        if not region:
            raise aws.no_region()
        return str(region)

    def client(self, service: str, config: Any | None = None) -> Any:
        """The shared client for a service; with `config` (a botocore Config merged over the
        adaptive retries), a new client of its own, e.g. with a larger connection pool."""
        with self._lock:
            if config is not None:
                return self._make(service, aws.retry_config().merge(config))
            if service not in self._clients:
                self._clients[service] = self._make(service, aws.retry_config())
            return self._clients[service]

    def _make(self, service: str, config: Any) -> Any:
        kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
        url = self.settings.endpoint_urls.get(service)
        if url:
            check_listening(url, self.settings.sources.get(url_source(service), ""))
            kwargs["endpoint_url"] = url
        else:
            check_listening(*botocore_env_url(service))
        raw = aws.call(self.session.client, service, service, **kwargs)
        return aws.BoundaryClient(raw, service)

    @property
    def partition(self) -> str:
        return naming.partition(self.region)

    def arn(self, service: str, resource: str) -> str:
        return naming.arn(self.partition, service, self.region, self.account_id, resource)

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    @property
    def bucket(self) -> str:
        """The bucket wasync uses: configured, else the SageMaker SDK's default name."""
        return self.settings.bucket or f"sagemaker-{self.region}-{self.account_id}"

    @property
    def prefix(self) -> str:
        return self.settings.prefix
