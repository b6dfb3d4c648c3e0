"""URLs of the pages that manage things: members, project and group settings, the user's own settings.

GitLab's paths; forms post to a URL of their own (no script, no ``_method``). Included by
:mod:`dockyard.web.urls` ahead of its ``groups/<path>`` route and its catch-alls, which would
otherwise swallow the ``/-/`` suffixes.
"""

from __future__ import annotations

from django.urls import path, re_path

from dockyard.web.views import (
    activity,
    ci,
    group_settings,
    issues,
    members,
    merge_request_changes,
    merge_requests,
    project_settings,
    user_settings,
)

# A namespace or project path segment never starts with "-", so "/-/" ends the project part.
_NAMED = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_PROJECT = rf"^(?P<namespace_path>{_NAMED}(?:/{_NAMED})*)/(?P<project_path>{_NAMED})/-/"
_GROUP = rf"^groups/(?P<full_path>{_NAMED}(?:/{_NAMED})*)/-/"

urlpatterns = [
    path("-/user_settings/profile", user_settings.profile, name="user_profile"),
    path("-/user_settings/password", user_settings.password, name="user_password"),
    path("-/user_settings/password/edit", user_settings.password),
    path("-/profile/notifications", user_settings.notifications, name="notifications"),
    re_path(_GROUP + r"group_members$", members.group_index, name="group_members"),
    re_path(_GROUP + r"group_members/(?P<user_id>[0-9]+)$", members.group_update, name="group_member_update"),
    re_path(_GROUP + r"group_members/(?P<user_id>[0-9]+)/remove$", members.group_remove, name="group_member_remove"),
    re_path(_GROUP + r"edit$", group_settings.edit, name="group_edit"),
    re_path(_GROUP + r"remove$", group_settings.remove, name="group_remove"),
    re_path(_PROJECT + r"project_members$", members.project_index, name="project_members"),
    re_path(_PROJECT + r"project_members/(?P<user_id>[0-9]+)$", members.project_update, name="project_member_update"),
    re_path(
        _PROJECT + r"project_members/(?P<user_id>[0-9]+)/remove$", members.project_remove, name="project_member_remove"
    ),
    re_path(_PROJECT + r"edit$", project_settings.edit, name="project_edit"),
    re_path(_PROJECT + r"archive$", project_settings.archive, name="project_archive"),
    re_path(_PROJECT + r"unarchive$", project_settings.unarchive, name="project_unarchive"),
    re_path(_PROJECT + r"remove$", project_settings.remove, name="project_remove"),
    re_path(_PROJECT + r"settings/repository$", project_settings.repository, name="project_repository_settings"),
    re_path(_PROJECT + r"protected_branches$", project_settings.protect_branch, name="protect_branch"),
    re_path(_PROJECT + r"protected_branches/unprotect$", project_settings.unprotect_branch, name="unprotect_branch"),
    re_path(_PROJECT + r"protected_tags$", project_settings.protect_tag, name="protect_tag"),
    re_path(_PROJECT + r"protected_tags/unprotect$", project_settings.unprotect_tag, name="unprotect_tag"),
    # CI/CD pages (dockyard.web.views.ci).
    re_path(_PROJECT + r"pipelines$", ci.pipelines, name="pipelines"),
    re_path(_PROJECT + r"pipelines/new$", ci.pipeline_new, name="pipeline_new"),
    re_path(_PROJECT + r"pipelines/(?P<pipeline_id>[0-9]+)$", ci.pipeline, name="pipeline"),
    re_path(
        _PROJECT + r"pipelines/(?P<pipeline_id>[0-9]+)/test_report$",
        ci.pipeline_test_report,
        name="pipeline_test_report",
    ),
    re_path(_PROJECT + r"pipelines/(?P<pipeline_id>[0-9]+)/retry$", ci.pipeline_retry, name="pipeline_retry"),
    re_path(_PROJECT + r"pipelines/(?P<pipeline_id>[0-9]+)/cancel$", ci.pipeline_cancel, name="pipeline_cancel"),
    re_path(_PROJECT + r"jobs$", ci.jobs, name="jobs"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)$", ci.job, name="job"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/trace\.json$", ci.job_trace, name="job_trace"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/raw$", ci.job_raw, name="job_raw"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/artifacts/download$", ci.job_artifacts, name="job_artifacts"),
    re_path(
        _PROJECT + r"jobs/(?P<job_id>[0-9]+)/artifacts/browse(?:/(?P<path>.*))?$",
        ci.job_artifacts_browse,
        name="job_artifacts_browse",
    ),
    re_path(
        _PROJECT + r"jobs/(?P<job_id>[0-9]+)/artifacts/raw/(?P<path>.+)$",
        ci.job_artifacts_raw,
        name="job_artifacts_raw",
    ),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/retry$", ci.job_retry, name="job_retry"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/cancel$", ci.job_cancel, name="job_cancel"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/play$", ci.job_play, name="job_play"),
    re_path(_PROJECT + r"jobs/(?P<job_id>[0-9]+)/unschedule$", ci.job_unschedule, name="job_unschedule"),
    re_path(_PROJECT + r"ci/lint$", ci.lint, name="ci_lint"),
    re_path(_PROJECT + r"settings/ci_cd$", ci.settings, name="ci_settings"),
    re_path(_PROJECT + r"settings/ci_cd/variables$", ci.variable_add, name="ci_variable_add"),
    re_path(_PROJECT + r"settings/ci_cd/variables/update$", ci.variable_update, name="ci_variable_update"),
    re_path(_PROJECT + r"settings/ci_cd/variables/remove$", ci.variable_remove, name="ci_variable_remove"),
    re_path(_PROJECT + r"activity$", activity.project_activity, name="project_activity"),
    # Issue pages (dockyard.web.views.issues).
    re_path(_PROJECT + r"issues/?$", issues.index, name="issues"),
    re_path(_PROJECT + r"issues/new$", issues.new, name="issue_new"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)$", issues.show, name="issue"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/edit$", issues.edit, name="issue_edit"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/delete$", issues.delete, name="issue_delete"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/update$", issues.update, name="issue_update"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/close$", issues.close, name="issue_close"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/reopen$", issues.reopen, name="issue_reopen"),
    re_path(_PROJECT + r"issues/(?P<iid>[0-9]+)/notes$", issues.comment, name="issue_comment"),
    re_path(
        _PROJECT + r"issues/(?P<iid>[0-9]+)/notes/(?P<nid>[0-9]+)/delete$",
        issues.note_delete,
        name="issue_note_delete",
    ),
    # Merge request pages (dockyard.web.views.merge_requests).
    re_path(_PROJECT + r"merge_requests/?$", merge_requests.index, name="mrs"),
    re_path(_PROJECT + r"merge_requests/new$", merge_request_changes.new, name="mr_new"),
    re_path(_PROJECT + r"merge_requests/(?P<iid>[0-9]+)$", merge_requests.show, name="mr"),
    re_path(_PROJECT + r"merge_requests/(?P<iid>[0-9]+)/commits$", merge_request_changes.commits, name="mr_commits"),
    re_path(_PROJECT + r"merge_requests/(?P<iid>[0-9]+)/diffs$", merge_request_changes.diffs, name="mr_diffs"),
    *[
        re_path(
            _PROJECT + rf"merge_requests/(?P<iid>[0-9]+)/{action}$",
            getattr(merge_requests, action),
            name=f"mr_{action}",
        )
        for action in ("approve", "unapprove", "merge", "rebase", "close", "reopen", "toggle_draft", "update")
    ],
    re_path(_PROJECT + r"merge_requests/(?P<iid>[0-9]+)/notes$", merge_requests.comment, name="mr_comment"),
    re_path(
        _PROJECT + r"merge_requests/(?P<iid>[0-9]+)/notes/(?P<nid>[0-9]+)/delete$",
        merge_requests.note_delete,
        name="mr_note_delete",
    ),
    re_path(
        _PROJECT + r"merge_requests/(?P<iid>[0-9]+)/discussions/(?P<discussion_id>[0-9a-f]{40})/resolve$",
        merge_requests.resolve,
        name="mr_resolve",
    ),
]
