"""GitLab's pagination: offset (``page``/``per_page`` + X-* headers + Link) and keyset (``id_after``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from dockyard.core.errors import BadRequest
from dockyard.core.urls import external_base

M = TypeVar("M", bound=Model)
T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# Above this many rows GitLab stops counting: no X-Total, X-Total-Pages or rel="last".
COUNT_LIMIT = 10_000


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} is invalid") from None


def _page_url(request: HttpRequest, **params: int | str) -> str:
    query = request.GET.copy()
    for key, value in params.items():
        query[key] = str(value)
    query.pop("private_token", None)  # never echo a credential into a header
    return f"{external_base(request)}{request.path}?{urlencode(sorted(query.items()))}"


def _per_page(request: HttpRequest) -> int:
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE)
    return DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)


def paginate(request: HttpRequest, response: HttpResponse, queryset: QuerySet[M]) -> list[M]:
    """One page of ``queryset`` (which must be ordered), with GitLab's headers set on ``response``.

    Two queries whatever the size: one bounded count and one page.
    """
    if request.GET.get("pagination") == "keyset":
        return keyset_paginate(request, response, queryset)
    page, per_page = page_params(request)
    total = queryset.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    rows = list(queryset[(page - 1) * per_page : page * per_page])
    set_page_headers(request, response, page=page, per_page=per_page, total=total, rows=len(rows))
    return rows


def page_params(request: HttpRequest) -> tuple[int, int]:
    """``(page, per_page)`` of an offset-paginated request, bounded as GitLab bounds them."""
    return max(_int_param(request, "page", 1), 1), _per_page(request)


def set_page_headers(
    request: HttpRequest, response: HttpResponse, *, page: int, per_page: int, total: int, rows: int
) -> None:
    """GitLab's offset-pagination headers for a page of ``rows`` items out of ``total``."""
    counted = total <= COUNT_LIMIT
    total_pages = max(math.ceil(total / per_page), 1)
    has_next = (page < total_pages) if counted else rows == per_page
    response["X-Page"] = str(page)
    response["X-Per-Page"] = str(per_page)
    response["X-Next-Page"] = str(page + 1) if has_next else ""
    response["X-Prev-Page"] = str(page - 1) if page > 1 else ""
    links = []
    if page > 1:
        links.append(f'<{_page_url(request, page=page - 1, per_page=per_page)}>; rel="prev"')
    if has_next:
        links.append(f'<{_page_url(request, page=page + 1, per_page=per_page)}>; rel="next"')
    links.append(f'<{_page_url(request, page=1, per_page=per_page)}>; rel="first"')
    if counted:
        response["X-Total"] = str(total)
        response["X-Total-Pages"] = str(total_pages)
        links.append(f'<{_page_url(request, page=total_pages, per_page=per_page)}>; rel="last"')
    response["Link"] = ", ".join(links)


def keyset_paginate(request: HttpRequest, response: HttpResponse, queryset: QuerySet[M]) -> list[M]:
    """Keyset pagination on ``id`` (GitLab supports it for ``order_by=id`` only): a Link rel="next"
    carrying ``id_after``/``id_before`` while more rows remain, nothing at the end."""
    order_by = request.GET.get("order_by", "id")
    if order_by != "id":
        raise BadRequest("Keyset pagination is not supported for this order_by")
    descending = request.GET.get("sort", "desc") != "asc"
    per_page = _per_page(request)
    qs = queryset.order_by("-pk" if descending else "pk")
    cursor_name = "id_before" if descending else "id_after"
    cursor = request.GET.get(cursor_name)
    if cursor:
        try:
            cursor_id = int(cursor)
        except ValueError:
            raise BadRequest(f"{cursor_name} is invalid") from None
        qs = qs.filter(pk__lt=cursor_id) if descending else qs.filter(pk__gt=cursor_id)
    rows = list(qs[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    response["X-Per-Page"] = str(per_page)
    if more:
        response["Link"] = f'<{_page_url(request, **{cursor_name: rows[-1].pk, "per_page": per_page})}>; rel="next"'
    return rows


def paginate_list(request: HttpRequest, response: HttpResponse, items: Sequence[T]) -> list[T]:
    """One page of an in-memory list (git data: branches, tags, tree entries, diffs), with the same
    headers as :func:`paginate`."""
    page, per_page = page_params(request)
    rows = list(items[(page - 1) * per_page : page * per_page])
    set_page_headers(request, response, page=page, per_page=per_page, total=len(items), rows=len(rows))
    return rows


def keyset_list(request: HttpRequest, response: HttpResponse, items: Sequence[T], *, key: str, cursor: str) -> list[T]:
    """Keyset pagination over an in-memory list: the page after the item whose ``key`` equals the
    ``cursor`` parameter, and a Link rel="next" carrying the last item's key while more remain
    (GitLab's ``pagination=keyset`` + ``page_token`` on repository trees)."""
    per_page = _per_page(request)
    start = 0
    token = request.GET.get(cursor)
    if token:
        keys = [getattr(item, key) for item in items]
        if token not in keys:
            raise BadRequest(f"{cursor} is invalid")
        start = keys.index(token) + 1
    rows = list(items[start : start + per_page])
    response["X-Per-Page"] = str(per_page)
    if start + per_page < len(items):
        response["Link"] = (
            f'<{_page_url(request, **{cursor: getattr(rows[-1], key), "per_page": per_page})}>; rel="next"'
        )
    return rows
