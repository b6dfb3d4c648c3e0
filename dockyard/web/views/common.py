"""What every page handler shares: 404 for what the viewer may not see, domain errors as form
errors, pagination, and the signed-in user."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse

from dockyard.accounts.models import User
from dockyard.core.errors import DockyardError, NotFound, ValidationFailed
from dockyard.namespaces import selectors as namespaces
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.projects import selectors as projects
from dockyard.projects.models import Project

PER_PAGE = 20

View = Callable[..., HttpResponse]


def viewer(request: HttpRequest) -> User | None:
    """The signed-in user, or None; the policy and selectors take this shape."""
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def signed_in(request: HttpRequest) -> User:
    """The signed-in user of a page behind ``login_required``."""
    user = viewer(request)
    assert user is not None, "wrap the view in login_required"
    return user


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """Selectors raise NotFound for missing and invisible alike; pages answer both with the 404 page."""
    try:
        yield
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


def admin_only(view: View) -> View:
    """The admin area answers 404 to everyone else, so its existence is no hint to non-admins."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = viewer(request)
        if user is None or not user.is_admin:
            raise Http404("Not Found")
        return view(request, *args, **kwargs)

    return wrapped


@dataclass
class Listing:
    """One page of a list with the links to its neighbours (other query parameters are kept)."""

    page: Page[Any]
    prev_url: str | None
    next_url: str | None

    @property
    def items(self) -> list[Any]:
        return list(self.page)


def paginate(request: HttpRequest, items: Any, *, param: str = "page", per_page: int = PER_PAGE) -> Listing:
    """Two queries whatever the size of ``items`` (an ordered queryset or a list): a count and a page."""
    page = Paginator(items, per_page).get_page(request.GET.get(param))

    def url(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    return Listing(
        page=page,
        prev_url=url(page.previous_page_number()) if page.has_previous() else None,
        next_url=url(page.next_page_number()) if page.has_next() else None,
    )


def form_errors(
    exc: DockyardError, *, labels: Mapping[str, str], aliases: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Turn a domain error into ``{field: [sentence, ...]}`` for a form.

    Field errors from :class:`ValidationFailed` land next to their field (``aliases`` maps the
    service's names, e.g. ``visibility_level``, to the form's); anything else, and every other domain
    error (Forbidden, BadRequest …), goes under ``"form"`` and shows above the form.
    """
    aliases = aliases or {}
    errors: dict[str, list[str]] = {}
    if isinstance(exc, ValidationFailed):
        for key, messages in exc.errors.items():
            field = aliases.get(key, key)
            if field in labels:
                errors.setdefault(field, []).extend(f"{labels[field]} {message}" for message in messages)
            else:
                # A sentence of its own ("Personal project creation is not allowed.") reads as is.
                label = key.replace("_", " ").capitalize()
                errors.setdefault("form", []).extend(m if m[:1].isupper() else f"{label} {m}" for m in messages)
    elif isinstance(exc, NotFound):
        # "404 Group Not Found" is API wording; a form says which choice it could not use.
        errors["form"] = [str(exc.message).removeprefix("404 ").replace(" Not Found", " not found.")]
    else:
        errors["form"] = [str(exc.message)]
    return errors


def require(user: User | None, action: str, obj: Any) -> None:
    """Answer 404 unless the policy allows ``action``: GitLab's pages refuse a member who lacks the role
    (a developer posting to the members form, say) with a 404, not a 403, as they do for outsiders."""
    if not policy.can(user, action, obj):
        raise Http404("Not Found")


def project_for(request: HttpRequest, namespace_path: str, project_path: str) -> Project:
    """The project a page's URL names, or 404 when it is missing or invisible to the viewer."""
    with not_found_as_404():
        return projects.project_get_for(viewer=viewer(request), ref=f"{namespace_path}/{project_path}")


def group_for(request: HttpRequest, full_path: str) -> Namespace:
    """The group a page's URL names (by path only), or 404 when it is missing, invisible or a user."""
    with not_found_as_404():
        group = namespaces.namespace_get_by_path_for(viewer=viewer(request), full_path=full_path)
    if not group.is_group:
        raise Http404("Group Not Found")
    return group
