"""A pipeline's unit test report: the JUnit XML its jobs uploaded (``artifacts:reports:junit``), read
into GitLab's test report (``GET /pipelines/:id/test_report``, ``…/test_report_summary``, the
pipeline page's Tests tab).

gitlab-runner uploads a job's JUnit files as one gzip stream, a member per file. Each member is parsed on
its own with defusedxml (the files are the job's output: untrusted). A suite is a job (parallel jobs
``rspec 1/3``… share the suite ``rspec``, as GitLab groups them); a file that does not parse gives the
suite GitLab's ``suite_error`` and no cases, and the rest of the report stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException

from dockyard.ci import selectors
from dockyard.ci.artifacts import GzipError, TooLarge, gzip_members
from dockyard.ci.models import Job, JobArtifact, Pipeline
from dockyard.core.storage import ObjectNotFound, object_storage

# Decompressed JUnit per job; GitLab refuses reports past its own limit too (a suite error, not a 500).
MAX_REPORT_BYTES = 30 * 1024 * 1024
STATUSES = ("success", "failed", "skipped", "error")
_PARALLEL_SUFFIX = re.compile(r" \d+/\d+$")


class ReportError(Exception):
    pass


@dataclass
class TestCase:
    status: str
    name: str
    classname: str
    file: str | None
    execution_time: float
    system_output: str | None

    def json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "name": self.name,
            "classname": self.classname,
            "file": self.file,
            "execution_time": self.execution_time,
            "system_output": self.system_output,
            "stack_trace": None,
            "recent_failures": None,
            "attachment_url": None,
        }


@dataclass
class TestSuite:
    name: str
    build_ids: list[int] = field(default_factory=list)
    test_cases: list[TestCase] = field(default_factory=list)
    suite_error: str | None = None

    def count(self, status: str | None = None) -> int:
        return sum(1 for case in self.test_cases if status is None or case.status == status)

    @property
    def total_time(self) -> float:
        return round(sum(case.execution_time for case in self.test_cases), 2)

    def counts(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "total_time": self.total_time,
            "total_count": self.count(),
            **{f"{status}_count": self.count(status) for status in STATUSES},
        }


@dataclass
class TestReport:
    test_suites: list[TestSuite]

    def count(self, status: str | None = None) -> int:
        return sum(suite.count(status) for suite in self.test_suites)

    @property
    def total_time(self) -> float:
        return round(sum(suite.total_time for suite in self.test_suites), 2)

    def json(self) -> dict[str, Any]:
        """``GET /pipelines/:id/test_report``: totals, then every suite with its cases, failures first
        (GitLab sorts a suite's cases by status: failed, error, then the rest)."""
        order = {"failed": 0, "error": 1, "success": 2, "skipped": 3}
        return {
            "total_time": self.total_time,
            "total_count": self.count(),
            **{f"{status}_count": self.count(status) for status in STATUSES},
            "test_suites": [
                {
                    **suite.counts(),
                    "suite_error": suite.suite_error,
                    "test_cases": [
                        case.json() for case in sorted(suite.test_cases, key=lambda c: order.get(c.status, 9))
                    ],
                }
                for suite in self.test_suites
            ],
        }

    def summary_json(self) -> dict[str, Any]:
        """``GET /pipelines/:id/test_report_summary``: the totals and each suite's counts, no cases."""
        errors = [suite.suite_error for suite in self.test_suites if suite.suite_error]
        return {
            "total": {
                "time": self.total_time,
                "count": self.count(),
                **{status: self.count(status) for status in STATUSES},
                "suite_error": errors[0] if errors else None,
            },
            "test_suites": [
                {**suite.counts(), "build_ids": suite.build_ids, "suite_error": suite.suite_error}
                for suite in self.test_suites
            ],
        }


def suite_name(job: Job) -> str:
    return _PARALLEL_SUFFIX.sub("", job.name)


def pipeline_report(pipeline: Pipeline) -> TestReport:
    """The pipeline's report, for the API and the Tests tab alike."""
    return build(selectors.pipeline_junit_reports(pipeline=pipeline))


def build(reports: list[tuple[Job, JobArtifact]]) -> TestReport:
    """The report of a pipeline from its latest jobs' JUnit artifacts (in job order)."""
    suites: dict[str, TestSuite] = {}
    for job, artifact in reports:
        suite = suites.setdefault(suite_name(job), TestSuite(suite_name(job)))
        suite.build_ids.append(job.pk)
        try:
            for document in _members(artifact):
                suite.test_cases.extend(_cases(document))
        except ReportError as exc:
            suite.suite_error = str(exc)
            suite.test_cases.clear()
    return TestReport(list(suites.values()))


def _members(artifact: JobArtifact) -> list[bytes]:
    """The files of a gzip stream of one or more members (plain XML when the upload was not gzip)."""
    try:
        with object_storage().open_read(artifact.storage_key) as stream:
            data = stream.read(MAX_REPORT_BYTES + 1)
    except ObjectNotFound:
        raise ReportError("JUnit report is missing") from None
    try:
        return gzip_members(data, limit=MAX_REPORT_BYTES)
    except TooLarge:
        raise ReportError("JUnit data is too large") from None
    except GzipError:
        raise ReportError("JUnit XML parsing failed: the report is not valid gzip") from None


def _cases(document: bytes) -> list[TestCase]:
    if not document.strip():
        return []
    try:
        root = SafeXML.fromstring(document)
    except (SafeXML.ParseError, DefusedXmlException) as exc:
        raise ReportError(f"JUnit XML parsing failed: {exc}") from None
    if root.tag not in ("testsuites", "testsuite", "testcase"):
        raise ReportError("JUnit XML parsing failed: no test suites found")
    return [_case(element) for element in root.iter("testcase")]


def _text(element: Element) -> str:
    """A failure's (error's, skip's) text, else its ``message``."""
    text = "".join(element.itertext()).strip()
    return text or element.get("message") or ""


def _case(element: Element) -> TestCase:
    status, output = "success", None
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = element.find(tag)
        if found is not None:
            status, output = outcome, _text(found) or None
            break
    try:
        seconds = float(element.get("time") or 0)
    except ValueError:
        seconds = 0.0
    return TestCase(
        status=status,
        name=element.get("name") or "",
        classname=element.get("classname") or "",
        file=element.get("file"),
        execution_time=seconds,
        system_output=output,
    )
