"""Reading JUnit uploads into GitLab's test report: gzip members, statuses, and the uploads that must
give a suite error rather than a crash or a stalled server (bad XML, entity tricks, bombs)."""

from __future__ import annotations

import gzip
import secrets
from typing import Any

from dockyard.ci import junit
from dockyard.ci.models import Job, JobArtifact
from dockyard.core.storage import object_storage


def _report(*uploads: tuple[str, bytes]) -> dict[str, Any]:
    rows = []
    for number, (name, data) in enumerate(uploads, start=1):
        key = f"test-junit/{secrets.token_hex(8)}"
        with object_storage().open_write(key) as writer:
            writer.write(data)
            writer.commit()
        rows.append((Job(pk=number, name=name), JobArtifact(storage_key=key, file_type="junit")))
    return junit.build(rows).json()


CASES = b"""<testsuites>
<testsuite name="a"><testcase name="ok" classname="A" time="0.5"/></testsuite>
<testsuite name="b"><testsuite name="nested"><testcase name="bad" classname="B"><failure>trace here</failure></testcase>
</testsuite></testsuite></testsuites>"""


def test_cases_of_every_member_and_nested_suite_are_counted_in_their_jobs_suite() -> None:
    report = _report(("unit 1/2", gzip.compress(CASES)), ("unit 2/2", gzip.compress(CASES) + gzip.compress(CASES)))
    assert report["total_count"] == 6 and report["failed_count"] == 3 and report["total_time"] == 1.5
    (suite,) = report["test_suites"]
    assert suite["name"] == "unit" and suite["suite_error"] is None
    assert [case["status"] for case in suite["test_cases"]] == ["failed"] * 3 + ["success"] * 3
    assert suite["test_cases"][0]["system_output"] == "trace here"


def test_a_broken_upload_is_a_suite_error_and_the_other_suites_stand() -> None:
    entity_bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<testsuite><testcase name="&b;"/></testsuite>'
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<testsuite><testcase name="&e;"/></testsuite>'
    )
    zip_bomb = gzip.compress(b"<testsuite>" + b" " * (junit.MAX_REPORT_BYTES + 10) + b"</testsuite>")
    report = _report(
        ("good", gzip.compress(CASES)),
        ("not xml", gzip.compress(b"<testsuite><testcase")),
        ("entities", gzip.compress(entity_bomb)),
        ("external", gzip.compress(external)),
        ("bomb", zip_bomb),
        ("truncated", gzip.compress(CASES)[:-12]),
        ("html", gzip.compress(b"<html><body>nope</body></html>")),
    )
    suites = {suite["name"]: suite for suite in report["test_suites"]}
    assert suites["good"]["total_count"] == 2 and suites["good"]["suite_error"] is None
    for name in ("not xml", "entities", "external", "truncated", "html"):
        assert suites[name]["suite_error"].startswith("JUnit XML parsing failed"), name
        assert suites[name]["total_count"] == 0
    assert suites["bomb"]["suite_error"] == "JUnit data is too large"
    assert report["total_count"] == 2
