"""``/user``, ``/users`` and ``/personal_access_tokens``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts import selectors, services
from dockyard.accounts.auth import Actor, current_user, require_admin, require_user
from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.accounts.schemas import (
    AnyUser,
    TokenCreateIn,
    TokenOut,
    TokenRotateIn,
    TokenWithSecret,
    UserCreateIn,
    UserDetail,
    UserOut,
    UserRows,
    UserUpdateIn,
    token_with_secret,
)
from dockyard.core.errors import Forbidden, NotFound
from dockyard.core.pagination import paginate

router = Router(tags=["users"])
tokens_router = Router(tags=["personal_access_tokens"])


def _user_or_404(ref: str) -> User:
    user = selectors.user_get(ref=ref)
    if user is None:
        raise NotFound("User")
    return user


def _render(viewer: User | None, user: User) -> UserOut:
    if viewer is not None and (viewer.is_admin or viewer.pk == user.pk):
        detail = UserDetail.from_orm(user)
        if not viewer.is_admin:
            # GitLab shows is_admin only to admins.
            return detail.model_copy(update={"is_admin": False})
        return detail
    return UserOut.from_orm(user)


@router.get("/user", response=UserDetail)
def get_current_user(request: HttpRequest) -> User:
    return require_user(request)


class UserFilters(Schema):
    search: str | None = None
    username: str | None = None
    active: bool | None = None
    blocked: bool | None = None
    admins: bool | None = None
    order_by: str = "id"
    sort: str = "desc"


@router.get("/users", response=UserRows)
def list_users(request: HttpRequest, response: HttpResponse, filters: Query[UserFilters]) -> UserRows:
    viewer = current_user(request)
    if viewer is None and not filters.username:
        raise Forbidden("Not authorized to access /api/v4/users")
    qs = selectors.user_list(
        search=filters.search,
        username=filters.username,
        active=filters.active,
        blocked=filters.blocked,
        admins=filters.admins if viewer is not None and viewer.is_admin else None,
    )
    field = filters.order_by if filters.order_by in ("id", "name", "username", "created_at") else "id"
    qs = qs.select_related("namespace").order_by(f"-{field}" if filters.sort == "desc" else field)
    return UserRows.model_construct([_render(viewer, u) for u in paginate(request, response, qs)])


@router.get("/users/{user_id}", response=AnyUser)
def get_user(request: HttpRequest, user_id: str) -> AnyUser:
    return AnyUser.model_construct(_render(current_user(request), _user_or_404(user_id)))


@router.post("/users", response={201: UserDetail})
def create_user(request: HttpRequest, payload: UserCreateIn) -> tuple[int, User]:
    require_admin(request)
    password = None if payload.force_random_password or payload.reset_password else payload.password
    user = services.user_create(
        username=payload.username,
        email=payload.email,
        name=payload.name,
        password=password,
        is_admin=payload.admin,
        can_create_group=payload.can_create_group,
        projects_limit=payload.projects_limit,
        external=payload.external,
        bio=payload.bio,
    )
    return 201, user


@router.put("/users/{user_id}", response=UserDetail)
def update_user(request: HttpRequest, user_id: str, payload: UserUpdateIn) -> User:
    actor = require_admin(request)
    user = _user_or_404(user_id)
    fields: dict[str, Any] = payload.dict(exclude_unset=True)
    username = fields.pop("username", None)
    password = fields.pop("password", None)
    is_admin = fields.pop("admin", None)
    return services.user_update(
        user=user, actor=actor, username=username, password=password, is_admin=is_admin, **fields
    )


@router.delete("/users/{user_id}", response={204: None})
def delete_user(request: HttpRequest, user_id: str) -> tuple[int, None]:
    actor = require_admin(request)
    services.user_delete(user=_user_or_404(user_id), actor=actor)
    return 204, None


@router.post("/users/{user_id}/block", response={201: bool})
def block_user(request: HttpRequest, user_id: str) -> tuple[int, bool]:
    actor = require_admin(request)
    services.user_block(user=_user_or_404(user_id), actor=actor)
    return 201, True


@router.post("/users/{user_id}/unblock", response={201: bool})
def unblock_user(request: HttpRequest, user_id: str) -> tuple[int, bool]:
    require_admin(request)
    services.user_unblock(user=_user_or_404(user_id))
    return 201, True


@router.post("/users/{user_id}/personal_access_tokens", response={201: TokenWithSecret})
def create_user_token(request: HttpRequest, user_id: str, payload: TokenCreateIn) -> tuple[int, dict[str, Any]]:
    require_admin(request)
    token, secret = services.token_create(
        user=_user_or_404(user_id),
        name=payload.name,
        scopes=payload.scopes,
        expires_at=payload.expires_at,
        description=payload.description,
    )
    return 201, token_with_secret(token, secret)


@router.get("/users/{user_id}/personal_access_tokens", response=list[TokenOut])
def list_user_tokens(request: HttpRequest, response: HttpResponse, user_id: str) -> list[PersonalAccessToken]:
    viewer = require_user(request)
    user = _user_or_404(user_id)
    if not viewer.is_admin and viewer.pk != user.pk:
        raise Forbidden()
    return paginate(request, response, selectors.token_list(user=user))


# --- /personal_access_tokens -----------------------------------------------------------------


class TokenFilters(Schema):
    user_id: str | None = None
    state: str | None = None
    search: str | None = None
    revoked: bool | None = None


def _token_for(request: HttpRequest, token_id: str) -> PersonalAccessToken:
    """``self`` or an id; a token the caller may not manage is reported missing."""
    viewer = require_user(request)
    actor: Actor = request.auth  # type: ignore[attr-defined]
    if token_id == "self":
        if actor.token is None:
            raise NotFound("Token")
        return actor.token
    if not token_id.isdigit():
        raise NotFound("Token")
    return selectors.token_get_for(viewer=viewer, pk=int(token_id))


@tokens_router.get("/personal_access_tokens", response=list[TokenOut])
def list_tokens(
    request: HttpRequest, response: HttpResponse, filters: Query[TokenFilters]
) -> list[PersonalAccessToken]:
    viewer = require_user(request)
    owner: User | None = viewer
    if viewer.is_admin:
        owner = _user_or_404(filters.user_id) if filters.user_id else None
    elif filters.user_id and filters.user_id not in (str(viewer.pk), viewer.username):
        raise Forbidden()
    qs = selectors.token_list(user=owner, state=filters.state, search=filters.search)
    if filters.revoked is not None:
        qs = qs.filter(revoked=filters.revoked)
    return paginate(request, response, qs)


@tokens_router.get("/personal_access_tokens/{token_id}", response=TokenOut)
def get_token(request: HttpRequest, token_id: str) -> PersonalAccessToken:
    return _token_for(request, token_id)


@tokens_router.delete("/personal_access_tokens/{token_id}", response={204: None})
def revoke_token(request: HttpRequest, token_id: str) -> tuple[int, None]:
    services.token_revoke(token=_token_for(request, token_id))
    return 204, None


@tokens_router.post("/personal_access_tokens/{token_id}/rotate", response=TokenWithSecret)
def rotate_token(request: HttpRequest, token_id: str, payload: TokenRotateIn | None = None) -> dict[str, Any]:
    token = _token_for(request, token_id)
    new, secret = services.token_rotate(token=token, expires_at=payload.expires_at if payload else None)
    return token_with_secret(new, secret)
