"""The emulator's stored resources: models and endpoint configs by name, and every ARN's tags."""

from __future__ import annotations

import copy
import time
from typing import Any

from .profile import LOCAL_ACCOUNT


class ApiError(Exception):
    """An error in AWS's shape: `__type` code, message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def arn(region: str, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{LOCAL_ACCOUNT}:{kind}/{name.lower()}"


def not_found(label: str, name: str) -> ApiError:
    return ApiError("ValidationException", f'Could not find {label} "{name}".')


def already_exists(label: str, resource_arn: str) -> ApiError:
    return ApiError(
        "ValidationException", f'Cannot create already existing {label} "{resource_arn}".'
    )


class Tags:
    """Tags by resource ARN, for AddTags, ListTags and DeleteTags."""

    def __init__(self) -> None:
        self._by_arn: dict[str, list[dict[str, str]]] = {}

    def set(self, resource_arn: str, tags: list[dict[str, str]]) -> None:
        self._by_arn[resource_arn] = list(tags)

    def forget(self, resource_arn: str) -> None:
        self._by_arn.pop(resource_arn, None)

    def of(self, resource_arn: str) -> list[dict[str, str]]:
        if resource_arn not in self._by_arn:
            raise ApiError("ValidationException", f'Could not find resource "{resource_arn}".')
        return self._by_arn[resource_arn]

    def add(self, resource_arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        current = self.of(resource_arn)
        keys = {tag["Key"] for tag in tags}
        current[:] = [tag for tag in current if tag["Key"] not in keys] + list(tags)
        return list(current)

    def delete(self, resource_arn: str, keys: list[str]) -> None:
        current = self.of(resource_arn)
        current[:] = [tag for tag in current if tag["Key"] not in set(keys)]


class Catalog:
    """One kind of resource stored as its Create request (models, endpoint configs)."""

    def __init__(self, kind: str, label: str, field: str, region: str, tags: Tags) -> None:
        self.kind, self.label, self.field = kind, label, field  # e.g. model, model, Model
        self.region = region
        self.tags = tags
        self._items: dict[str, dict[str, Any]] = {}

    @property
    def name_key(self) -> str:
        return f"{self.field}Name"

    @property
    def arn_key(self) -> str:
        return f"{self.field}Arn"

    def create(self, params: dict[str, Any]) -> str:
        name = params[self.name_key]
        resource_arn = arn(self.region, self.kind, name)
        # SageMaker's names are unique without regard to case, as its ARNs (lower case) are
        if any(item[self.arn_key] == resource_arn for item in self._items.values()):
            raise already_exists(self.label, resource_arn)
        item = {**params, self.arn_key: resource_arn, "CreationTime": time.time()}
        item.pop("Tags", None)
        self._items[name] = item
        self.tags.set(resource_arn, params.get("Tags", []))
        return resource_arn

    def get(self, name: str) -> dict[str, Any]:
        item = self._items.get(name)
        if item is None:
            raise not_found(self.label, name)
        return item

    def describe(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.get(name))

    def delete(self, name: str) -> None:
        item = self.get(name)
        del self._items[name]
        self.tags.forget(item[self.arn_key])

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def summaries(self) -> list[dict[str, Any]]:
        """Each item as its List operation shows it (listing.py filters, sorts and pages)."""
        keys = (self.name_key, self.arn_key, "CreationTime")
        return [{k: i[k] for k in keys} for i in self._items.values()]
