"""SageMaker's List operations as AWS answers them: filtered by name, status and time, sorted
(CreationTime, newest first, unless SortBy/SortOrder say otherwise), and paged.

ListEndpoints returns 10 a page unless MaxResults says otherwise (its documented default);
ListModels and ListEndpointConfigs document none, so they return up to 100 (MaxResults' bound).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .catalog import ApiError
from .pages import BadPageToken, page_of, request_seconds

ENDPOINTS_LISTED = 10  # ListEndpoints' page without MaxResults
MOST_LISTED = 100  # MaxResults' bound: ListModels' and ListEndpointConfigs' page without it
SORT_FIELDS = {"CreationTime": "CreationTime", "Status": "EndpointStatus"}
# (request field, item field, keep when): CreationTimeAfter is "greater than or equal to".
TIME_FILTERS = (
    ("CreationTimeAfter", "CreationTime", lambda item, bound: item >= bound),
    ("CreationTimeBefore", "CreationTime", lambda item, bound: item < bound),
    ("LastModifiedTimeAfter", "LastModifiedTime", lambda item, bound: item >= bound),
    ("LastModifiedTimeBefore", "LastModifiedTime", lambda item, bound: item < bound),
)


def listed(
    items: Sequence[dict[str, Any]], p: dict[str, Any], name_key: str, page_size: int
) -> tuple[list[dict[str, Any]], str | None]:
    """(this page of `items`, the next page's token or None) for List request `p`."""
    kept = [item for item in items if p.get("NameContains", "") in item[name_key]]
    if "StatusEquals" in p:
        kept = [item for item in kept if item.get("EndpointStatus") == p["StatusEquals"]]
    for field, key, keep in TIME_FILTERS:
        if field in p:
            bound = request_seconds(p[field])
            kept = [item for item in kept if keep(item[key], bound)]
    sort_key = (
        name_key if p.get("SortBy") == "Name" else SORT_FIELDS[p.get("SortBy", "CreationTime")]
    )
    kept.sort(
        key=lambda item: item[sort_key], reverse=p.get("SortOrder", "Descending") == "Descending"
    )
    try:
        return page_of(kept, p.get("NextToken"), int(p.get("MaxResults", page_size)))
    except BadPageToken as refused:
        raise ApiError("ValidationException", str(refused)) from None


def list_response(key: str, page: tuple[list[dict[str, Any]], str | None]) -> dict[str, Any]:
    found, token = page
    return {key: found, **({"NextToken": token} if token else {})}
