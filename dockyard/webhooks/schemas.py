"""Hooks and hook events as GitLab's API shows them. The token is write-only: never in an answer."""

from __future__ import annotations

from typing import Any

from ninja import Schema

from dockyard.core.schema import GlDateTime
from dockyard.webhooks.models import WebHook, WebHookLog


class _HookBase(Schema):
    id: int
    url: str
    name: str
    description: str
    created_at: GlDateTime
    push_events: bool
    tag_push_events: bool
    merge_requests_events: bool
    repository_update_events: bool
    enable_ssl_verification: bool
    alert_status: str
    disabled_until: GlDateTime | None
    url_variables: list[dict[str, str]] = []
    token_present: bool = False

    @staticmethod
    def resolve_token_present(obj: WebHook) -> bool:
        return bool(obj.token)

    @staticmethod
    def resolve_disabled_until(obj: WebHook) -> Any:
        return obj.disabled_until if obj.temporarily_disabled else None


class SystemHookOut(_HookBase):
    pass


class ProjectHookOut(_HookBase):
    project_id: int | None = None
    push_events_branch_filter: str
    branch_filter_strategy: str
    issues_events: bool
    confidential_issues_events: bool
    note_events: bool
    confidential_note_events: bool
    job_events: bool
    pipeline_events: bool
    wiki_page_events: bool
    deployment_events: bool
    releases_events: bool
    feature_flag_events: bool
    resource_access_token_events: bool = False
    emoji_events: bool = False
    custom_webhook_template: str | None = None
    custom_headers: list[dict[str, str]] = []


class GroupHookOut(ProjectHookOut):
    group_id: int | None = None
    subgroup_events: bool = False
    member_events: bool = False
    project_events: bool = False


class HookIn(Schema):
    url: str | None = None
    name: str | None = None
    description: str | None = None
    token: str | None = None
    push_events: bool | None = None
    tag_push_events: bool | None = None
    issues_events: bool | None = None
    confidential_issues_events: bool | None = None
    note_events: bool | None = None
    confidential_note_events: bool | None = None
    merge_requests_events: bool | None = None
    job_events: bool | None = None
    pipeline_events: bool | None = None
    wiki_page_events: bool | None = None
    releases_events: bool | None = None
    deployment_events: bool | None = None
    feature_flag_events: bool | None = None
    repository_update_events: bool | None = None
    push_events_branch_filter: str | None = None
    branch_filter_strategy: str | None = None
    enable_ssl_verification: bool | None = None

    def fields(self, *, system: bool) -> dict[str, Any]:
        """The event and display fields given (url and token are passed apart)."""
        data = self.model_dump(exclude={"url", "token"}, exclude_none=True)
        if system:
            # GitLab's system hooks API ignores project-only switches rather than failing on them.
            keep = {"push_events", "tag_push_events", "merge_requests_events", "repository_update_events"}
            keep |= {"name", "description", "enable_ssl_verification"}
            data = {k: v for k, v in data.items() if k in keep}
        elif "repository_update_events" in data:
            data.pop("repository_update_events")
        return data


class HookEventOut(Schema):
    id: int
    url: str
    trigger: str
    request_headers: dict[str, Any]
    request_data: dict[str, Any]
    response_headers: dict[str, Any]
    response_body: str
    execution_duration: float
    response_status: str
    internal_error_message: str | None = None
    created_at: GlDateTime

    @staticmethod
    def resolve_internal_error_message(obj: WebHookLog) -> str | None:
        return obj.internal_error_message or None


class ResendOut(Schema):
    response_status: int | str
