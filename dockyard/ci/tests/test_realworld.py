"""Whole ``.gitlab-ci.yml`` files of the kinds projects really have, with includes through a fake loader."""

from __future__ import annotations

import pytest

from dockyard.ci.compiler import compile_pipeline
from dockyard.ci.tests.conftest import FakeRepository, compile_ok, context, files_exist_in, names

PYTHON_PROJECT = """
stages: [lint, test, build, deploy]

variables:
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"

default:
  image: python:3.12-slim
  cache:
    key:
      files: [requirements.txt]
    paths: [.cache/pip]
  interruptible: true

workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG

.python-test: &python-test
  stage: test
  before_script:
    - pip install -r requirements.txt
  script:
    - pytest --junitxml=report.xml
  artifacts:
    reports:
      junit: report.xml

ruff:
  stage: lint
  script: ruff check .

mypy:
  stage: lint
  script: mypy .
  allow_failure: true

test:
  <<: *python-test
  image: python:$PYTHON_VERSION
  parallel:
    matrix:
      - PYTHON_VERSION: ["3.11", "3.12", "3.13"]

wheel:
  stage: build
  script: python -m build
  artifacts:
    paths: [dist/]
  rules:
    - if: $CI_COMMIT_TAG
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

publish:
  stage: deploy
  script: twine upload dist/*
  needs: [wheel]
  environment: pypi
  interruptible: false
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\\d+\\.\\d+\\.\\d+$/
"""

TEST_JOBS = ["test: [3.11]", "test: [3.12]", "test: [3.13]"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ref": "main"}, ["ruff", "mypy", *TEST_JOBS, "wheel"]),
        ({"ref": "feature/x"}, ["ruff", "mypy", *TEST_JOBS]),
        ({"ref": "v1.2.3", "ref_type": "tag"}, ["ruff", "mypy", *TEST_JOBS, "wheel", "publish"]),
        ({"ref": "v1.2", "ref_type": "tag"}, ["ruff", "mypy", *TEST_JOBS, "wheel"]),
        ({"ref": "feature/x", "source": "merge_request_event"}, ["ruff", "mypy", *TEST_JOBS]),
        ({"ref": "feature/x", "variables": {"CI_OPEN_MERGE_REQUESTS": "acme/app!4"}}, []),
    ],
)
def test_python_project_branch_tag_mr_matrix(overrides: dict[str, object], expected: list[str]) -> None:
    assert names(PYTHON_PROJECT, **overrides) == expected


def test_python_project_details() -> None:
    plan = compile_ok(PYTHON_PROJECT, ref="v1.2.3", ref_type="tag").plan
    assert plan is not None
    assert plan.stages == ("lint", "test", "build", "deploy")
    test = plan.job("test: [3.12]")
    assert test.image is not None and test.image.name == "python:$PYTHON_VERSION"  # the runner expands it
    assert test.variables["PYTHON_VERSION"] == "3.12"
    assert test.before_script == ("pip install -r requirements.txt",)
    assert test.artifacts is not None and test.artifacts.reports.junit == ("report.xml",)
    assert test.cache[0].key.files == ("requirements.txt",)
    assert test.interruptible is True and plan.job("publish").interruptible is False
    assert plan.job("mypy").allow_failure.allowed is True
    env = plan.job("publish").environment
    assert env is not None and env.name == "pypi"


MONOREPO = """
stages: [test, deploy]

.service:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes:
        - services/$SERVICE/**/*
        - shared/**/*
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      changes:
        paths: [services/$SERVICE/**/*, shared/**/*]

api-test:
  extends: .service
  variables: {SERVICE: api}
  script: make -C services/api test

web-test:
  extends: .service
  variables: {SERVICE: web}
  script: make -C services/web test

docs:
  script: mkdocs build
  rules:
    - changes: ["docs/**/*", mkdocs.yml]
      exists: [mkdocs.yml]
"""


def test_monorepo_rules_changes_use_job_variables() -> None:
    exists = files_exist_in(["mkdocs.yml", "services/api/main.go"])
    mr = {"source": "merge_request_event", "ref": "feature", "files_exist": exists}
    assert names(MONOREPO, changed_paths=["services/api/handler.go"], **mr) == ["api-test"]
    assert names(MONOREPO, changed_paths=["shared/log.go"], **mr) == ["api-test", "web-test"]
    assert names(MONOREPO, changed_paths=["docs/index.md"], **mr) == ["docs"]
    result = compile_pipeline(MONOREPO, context(changed_paths=["README.md"], files_exist=exists))
    assert result.status == "empty"
    assert result.errors == (
        "Pipeline will not run for the selected trigger. "
        "The rules configuration prevented any jobs from being added to the pipeline.",
    )


DOCKER_BUILD = """
variables:
  DOCKER_TLS_CERTDIR: "/certs"
  IMAGE: $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA

build-image:
  stage: build
  image: docker:27
  services:
    - name: docker:27-dind
      alias: docker
  before_script:
    - echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"
  script:
    - docker build -t "$IMAGE" .
    - docker push "$IMAGE"
  tags: [docker, privileged]
  retry:
    max: 2
    when: runner_system_failure

scan:
  stage: test
  image:
    name: aquasec/trivy:latest
    entrypoint: [""]
  script: trivy image "$IMAGE"
  needs: [build-image]
  allow_failure: true

release-image:
  stage: deploy
  image: docker:27
  services: [docker:27-dind]
  script: docker tag "$IMAGE" "$CI_REGISTRY_IMAGE:latest"
  only: [main]
  except:
    variables: ['$SKIP_RELEASE']
"""


def test_docker_build_with_services() -> None:
    plan = compile_ok(DOCKER_BUILD).plan
    assert plan is not None
    assert plan.job_names == ["build-image", "scan", "release-image"]
    build = plan.job("build-image")
    assert build.services[0].name == "docker:27-dind" and build.services[0].alias == "docker"
    assert build.tags == ("docker", "privileged")
    assert build.retry is not None and build.retry.when == ("runner_system_failure",)
    assert {v.key: v.value for v in build.yaml_variables}["IMAGE"] == "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA"
    scan = plan.job("scan")
    assert scan.image is not None and scan.image.entrypoint == ("",)
    assert names(DOCKER_BUILD, ref="dev") == ["build-image", "scan"]
    assert names(DOCKER_BUILD, user_variables={"SKIP_RELEASE": "1"}) == ["build-image", "scan"]


def test_includes_local_project_template_nested() -> None:
    repo = FakeRepository(
        {
            "ci/base.yml": "include: ci/nested.yml\n.defaults:\n  image: alpine\n  tags: [shared]\n",
            "ci/nested.yml": "variables:\n  FROM_NESTED: 'yes'\n",
            "ci/jobs/a.yml": "a:\n  extends: .defaults\n  script: a\n",
            "ci/jobs/b.yml": "b:\n  extends: .defaults\n  script: b\n",
        },
        projects={
            "acme/ci-templates": {
                "deploy.yml": "include: helpers.yml\ndeploy:\n  stage: deploy\n  script: deploy\n",
                "helpers.yml": ".helper:\n  script: help\n",
            }
        },
    )
    repo.templates["Security/SAST.gitlab-ci.yml"] = "sast:\n  stage: test\n  script: scan\n"
    text = """
include:
  - local: /ci/base.yml
  - local: ci/jobs/*.yml
  - project: acme/ci-templates
    ref: v2
    file: [deploy.yml]
  - template: Security/SAST.gitlab-ci.yml
deploy:
  variables: {OVERRIDE: 'yes'}
"""
    plan = compile_ok(
        text,
        include_loader=repo.load,
        files_exist=files_exist_in(["ci/base.yml", "ci/jobs/a.yml", "ci/jobs/b.yml"]),
    ).plan
    assert plan is not None
    assert plan.job_names == ["a", "b", "sast", "deploy"]
    assert plan.job("a").image is not None and plan.job("a").tags == ("shared",)
    assert plan.job("deploy").variables["OVERRIDE"] == "yes" and plan.job("deploy").variables["FROM_NESTED"] == "yes"
    helper = next(r for r in repo.requests if r.location == "helpers.yml")
    assert (helper.kind, helper.context_project, helper.context_ref) == ("local", "acme/ci-templates", "v2")


def test_include_errors() -> None:
    repo = FakeRepository({"loop-a.yml": "include: loop-b.yml\n", "loop-b.yml": "include: loop-a.yml\n"})

    def errors(text: str) -> tuple[str, ...]:
        return compile_pipeline(text, context(include_loader=repo.load)).errors

    assert errors("include: missing.yml\nj:\n  script: x\n") == ("Local file `missing.yml` does not exist!",)
    assert errors("include: notes.txt\nj:\n  script: x\n") == (
        "Included file `notes.txt` does not have YAML extension!",
    )
    (cycle,) = errors("include: loop-a.yml\nj:\n  script: x\n")
    assert (
        cycle.startswith("Maximum of 150 nested includes are allowed!")
        and "loop-a.yml → loop-b.yml → loop-a.yml" in cycle
    )
    assert errors("include:\n  project: nobody/nothing\n  file: x.yml\nj:\n  script: x\n") == (
        "Project `nobody/nothing` not found or access denied! Make sure any includes in the pipeline "
        "configuration are correctly defined.",
    )
    assert errors("include: https://example.com/ci.yml\nj:\n  script: x\n") == (
        "Remote file `https://example.com/ci.yml` could not be fetched because remote includes are disabled!",
    )
    many = "include:\n" + "".join(f"  - local: f{i}.yml\n" for i in range(151)) + "j:\n  script: x\n"
    repo.files.update({f"f{i}.yml": f".h{i}:\n  script: x\n" for i in range(151)})
    assert errors(many) == ("Maximum of 150 nested includes are allowed!",)


def test_remote_include_when_allowed() -> None:
    text = "include: https://example.com/ci.yml\n"
    result = compile_pipeline(
        text,
        context(allow_remote_includes=True, remote_fetcher=lambda url: "remote:\n  script: x\n"),
    )
    assert result.ok and result.plan is not None and result.plan.job_names == ["remote"]


def test_include_rules_and_variables_in_location() -> None:
    repo = FakeRepository({"ci/prod.yml": "prod:\n  script: x\n", "ci/dev.yml": "dev:\n  script: x\n"})
    text = """
include:
  - local: ci/$ENVIRONMENT.yml
  - local: ci/prod.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
"""
    assert names(text, include_loader=repo.load, user_variables={"ENVIRONMENT": "dev"}) == ["dev", "prod"]
    assert names(text, ref="x", include_loader=repo.load, user_variables={"ENVIRONMENT": "dev"}) == ["dev"]


def test_extends_chains_deep_merge() -> None:
    text = """
.base:
  image: ruby:3
  variables: {A: base, B: base}
  artifacts:
    paths: [a]
    expire_in: 1 day
.middle:
  extends: .base
  variables: {B: middle, C: middle}
  artifacts:
    paths: [b]
.other:
  tags: [other]
job:
  extends: [.middle, .other]
  variables: {C: job}
  script: x
"""
    plan = compile_ok(text).plan
    assert plan is not None
    job = plan.job("job")
    assert {v.key: v.value for v in job.yaml_variables} == {"A": "base", "B": "middle", "C": "job"}
    assert job.artifacts is not None
    assert job.artifacts.paths == ("b",) and job.artifacts.expire_in == "1 day"  # arrays replaced, hashes merged
    assert job.tags == ("other",)


def test_extends_errors() -> None:
    def errors(text: str) -> tuple[str, ...]:
        return compile_pipeline(text, context()).errors

    assert errors("j:\n  extends: .nope\n  script: x\n") == ("j: unknown keys in `extends` (.nope)",)
    assert errors(".a:\n  extends: .b\n.b:\n  extends: .a\nj:\n  extends: .a\n  script: x\n") == (
        ".a: circular dependency detected in `extends`",
    )
    chain = "".join(f".t{i}:\n  extends: .t{i + 1}\n" for i in range(12)) + ".t12:\n  script: x\nj:\n  extends: .t0\n"
    (error,) = errors(chain)
    assert error.endswith("nesting too deep in `extends`")
    assert errors(".s: [a]\nj:\n  extends: .s\n  script: x\n") == ("j: invalid base hashes in `extends` (.s)",)


def test_yaml_anchors_and_merge_keys() -> None:
    text = """
.defaults: &defaults
  image: node:22
  before_script: [npm ci]
.retry: &retry
  retry: 1
build:
  <<: [*defaults, *retry]
  script: npm run build
test:
  <<: *defaults
  script: npm test
  image: node:20
"""
    plan = compile_ok(text).plan
    assert plan is not None
    build = plan.job("build")
    assert build.image is not None and build.image.name == "node:22"
    assert build.retry is not None and build.retry.max == 1
    test = plan.job("test")
    assert test.image is not None and test.image.name == "node:20"
