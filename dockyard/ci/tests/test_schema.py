"""The example pipelines of these tests are valid by GitLab's own CI JSON schema."""

from __future__ import annotations

import importlib.resources
import json

import pytest
import yaml

from dockyard.ci.tests import test_realworld

jsonschema = pytest.importorskip("jsonschema")

# GitLab's CI JSON schema as shipped by the check-jsonschema package (a declared dev dependency).
_VENDOR = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "gitlab-ci.json"
SCHEMA = json.loads(_VENDOR.read_text())


@pytest.mark.parametrize("name", ["PYTHON_PROJECT", "MONOREPO", "DOCKER_BUILD"])
def test_examples_match_gitlab_schema(name: str) -> None:
    document = yaml.safe_load(getattr(test_realworld, name))
    jsonschema.validate(document, SCHEMA)


def test_schema_rejects_what_the_compiler_rejects() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load("build:\n  script: make\n  when: sometimes\n"), SCHEMA)
