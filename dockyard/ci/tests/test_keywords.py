"""Keyword by keyword: the jobs GitLab would create, and its messages for broken files."""

from __future__ import annotations

from dockyard.ci.compiler import Need, compile_pipeline
from dockyard.ci.tests.conftest import compile_ok, context, errors_of, files_exist_in, names


def test_default_stages_and_job_order() -> None:
    plan = compile_ok(
        "deploy:\n  stage: deploy\n  script: d\nunit:\n  script: t\nbuild:\n  stage: build\n  script: b\n"
    ).plan
    assert plan is not None
    assert plan.declared_stages == (".pre", "build", "test", "deploy", ".post")
    assert plan.stages == ("build", "test", "deploy")
    assert plan.job_names == ["build", "unit", "deploy"]
    assert plan.job("unit").stage == "test"


def test_custom_stages_get_pre_and_post() -> None:
    plan = compile_ok(
        "stages: [lint, .pre, ship]\nfirst:\n  stage: .pre\n  script: x\nl:\n  stage: lint\n  script: x\n"
    ).plan
    assert plan is not None
    assert plan.declared_stages == (".pre", "lint", "ship", ".post")
    assert plan.job_names == ["first", "l"]


def test_unknown_stage() -> None:
    assert errors_of("build:\n  stage: compile\n  script: x\n") == (
        "build job: chosen stage compile does not exist; available stages are .pre, build, test, deploy, .post",
    )


def test_unknown_keys_and_missing_script() -> None:
    assert errors_of("build:\n  script: make\n  scrpt: x\n") == ("jobs:build config contains unknown keys: scrpt",)
    assert errors_of("build:\n  image: ruby\n") == (
        "jobs build config should implement the script:, run:, or trigger: keyword",
    )
    assert errors_of("my_job:\n  image: ruby\n") == (
        "jobs my_job config should implement the script:, run:, or trigger: keyword",
    )
    assert errors_of(".hidden:\n  script: x\n") == ("jobs config should contain at least one visible job",)
    assert errors_of("build:\n  script: []\n") == ("jobs:build script can't be blank",)


def test_yaml_errors_never_raise() -> None:
    assert compile_pipeline("", context()).errors == ("Please provide content of .gitlab-ci.yml",)
    assert compile_pipeline("- a\n- b\n", context()).errors == ("Invalid configuration format",)
    (error,) = compile_pipeline("build:\n  script: [\n", context()).errors
    assert error.startswith("(<unknown>): ") and "line" in error
    lines = ["a: &a ['x','x','x','x','x','x','x','x','x']"]
    for i in range(8):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    assert compile_pipeline(bomb, context()).errors == ("The parsed YAML is too big",)


def test_rules_if_invalid_expression() -> None:
    text = "test:\n  script: x\n  rules:\n    - if: '$CI_COMMIT_BRANCH = \"main\"'\n"
    assert errors_of(text) == ("jobs:test:rules:rule if invalid expression syntax",)


def test_rules_with_only_is_refused() -> None:
    text = "test:\n  script: x\n  only: [main]\n  rules:\n    - when: always\n"
    assert errors_of(text) == ("jobs:test config key may not be used with `rules`: only",)


def test_rules_keys_and_when() -> None:
    assert errors_of("t:\n  script: x\n  rules:\n    - iff: $A\n") == (
        "jobs:t:rules:rule config contains unknown keys: iff",
    )
    assert errors_of("t:\n  script: x\n  rules:\n    - when: later\n") == (
        "jobs:t:rules:rule when unknown value: later",
    )
    assert errors_of("t:\n  script: x\n  when: sometimes\n") == (
        "jobs:t when should be one of: on_success, on_failure, always, manual, delayed",
    )


def test_rules_first_match_when_and_allow_failure() -> None:
    text = """
build:
  script: make
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - when: on_success
      allow_failure: true
"""
    main = compile_ok(text).plan
    assert main is not None
    job = main.job("build")
    assert job.when == "manual"
    assert job.allow_failure.allowed is False  # manual through rules does not default to allowed
    other = compile_ok(text, ref="feature").plan
    assert other is not None
    assert other.job("build").when == "on_success" and other.job("build").allow_failure.allowed
    assert compile_pipeline(text, context(ref="v1", ref_type="tag")).status == "empty"


def test_manual_job_defaults_to_allow_failure() -> None:
    plan = compile_ok("a:\n  script: x\n  when: manual\nb:\n  script: x\n  when: manual\n  allow_failure: false\n").plan
    assert plan is not None
    assert plan.job("a").allow_failure.allowed is True
    assert plan.job("b").allow_failure.allowed is False


def test_allow_failure_exit_codes() -> None:
    plan = compile_ok("a:\n  script: x\n  allow_failure:\n    exit_codes: [137, 255]\n").plan
    assert plan is not None
    failure = plan.job("a").allow_failure
    assert failure.allowed is False and failure.exit_codes == (137, 255)


def test_delayed_and_start_in() -> None:
    plan = compile_ok("a:\n  script: x\n  when: delayed\n  start_in: 30 minutes\n").plan
    assert plan is not None
    assert (plan.job("a").when, plan.job("a").start_in) == ("delayed", "30 minutes")
    assert errors_of("a:\n  script: x\n  when: delayed\n  start_in: 2 weeks\n") == (
        "jobs:a start in should not exceed the limit",
    )
    assert errors_of("a:\n  script: x\n  start_in: 1 hour\n") == ("jobs:a start in must be blank",)
    assert errors_of("a:\n  script: x\n  rules:\n    - when: delayed\n") == (
        "jobs:a:rules:rule start in can't be blank",
    )


def test_rules_changes_exists_and_variables() -> None:
    text = """
api:
  script: make api
  variables: {TARGET: dev}
  rules:
    - changes:
        paths: [services/api/**/*]
      variables: {TARGET: api}
docs:
  script: make docs
  rules:
    - exists: [mkdocs.yml]
"""
    plan = compile_ok(text, changed_paths=["services/api/main.go"], files_exist=files_exist_in(["README.md"])).plan
    assert plan is not None
    assert plan.job_names == ["api"]
    assert plan.job("api").variables["TARGET"] == "api"
    assert names(text, changed_paths=["README.md"], files_exist=files_exist_in(["mkdocs.yml"])) == ["docs"]
    # No diff to compare (new branch, tag, schedule): every changes clause is true.
    assert names(text, changed_paths=None) == ["api"]


def test_changes_compare_to() -> None:
    text = "a:\n  script: x\n  rules:\n    - changes:\n        paths: ['*.md']\n        compare_to: refs/heads/main\n"
    seen: list[str] = []

    def since(ref: str) -> list[str]:
        seen.append(ref)
        return ["README.md"]

    assert names(text, changed_paths=[], changed_paths_since=since) == ["a"]
    assert seen == ["refs/heads/main"]


def test_only_except() -> None:
    text = """
always:
  script: x
branches_only:
  script: x
  only: [branches]
tags_only:
  script: x
  only: [tags]
release:
  script: x
  only: ['/^release-.*$/']
not_main:
  script: x
  except: [main]
mr:
  script: x
  only: [merge_requests]
with_var:
  script: x
  only:
    variables: ['$DEPLOY == "yes"']
"""
    assert names(text) == ["always", "branches_only"]
    assert names(text, ref="release-1") == ["always", "branches_only", "release", "not_main"]
    assert names(text, ref="v1.0", ref_type="tag") == ["always", "tags_only", "not_main"]
    assert names(text, source="merge_request_event", ref="feature") == ["mr"]  # the only: default skips MRs
    assert names(text, user_variables={"DEPLOY": "yes"}) == ["always", "branches_only", "with_var"]


def test_workflow_rules() -> None:
    text = """
workflow:
  name: 'Pipeline for $CI_COMMIT_REF_NAME ($MODE)'
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      variables: {MODE: review}
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
variables:
  MODE: normal
test:
  script: pytest
"""
    plan = compile_ok(text, source="merge_request_event", ref="feature").plan
    assert plan is not None
    assert plan.name == "Pipeline for feature (review)"
    assert plan.job("test").variables["MODE"] == "review"
    branch = compile_pipeline(text, context(ref="feature", variables={"CI_OPEN_MERGE_REQUESTS": "acme/app!1"}))
    assert branch.status == "filtered" and branch.errors == ("Pipeline filtered out by workflow rules.",)
    plain = compile_ok(text, ref="feature").plan
    assert plain is not None and plain.job("test").variables["MODE"] == "normal"
    tag = compile_pipeline(text, context(ref="v1", ref_type="tag"))
    assert tag.status == "filtered"


def test_workflow_auto_cancel() -> None:
    text = "workflow:\n  auto_cancel:\n    on_new_commit: interruptible\n    on_job_failure: all\njob:\n  script: x\n"
    plan = compile_ok(text).plan
    assert plan is not None and plan.auto_cancel == {"on_new_commit": "interruptible", "on_job_failure": "all"}
    ruled = (
        "workflow:\n  auto_cancel:\n    on_new_commit: none\n    on_job_failure: all\n  rules:\n"
        "    - if: $CI_COMMIT_BRANCH\n      auto_cancel:\n        on_job_failure: none\njob:\n  script: x\n"
    )
    # The matching rule's key replaces the file's; the file's other key stays.
    ruled_plan = compile_ok(ruled).plan
    assert ruled_plan is not None and ruled_plan.auto_cancel == {"on_new_commit": "none", "on_job_failure": "none"}
    assert errors_of(text.replace("on_job_failure: all", "on_job_failure: some")) == (
        "workflow:auto_cancel on job failure must be one of: none, all",
    )
    assert errors_of(text.replace("on_new_commit: interruptible", "on_new_commit: always")) == (
        "workflow:auto_cancel on new commit must be one of: conservative, interruptible, none",
    )
    assert errors_of(text.replace("on_job_failure", "on_failure")) == (
        "workflow:auto_cancel config contains unknown keys: on_failure",
    )


def test_workflow_rules_remove_only_default() -> None:
    text = "workflow:\n  rules:\n    - when: always\njob:\n  script: x\n"
    assert names(text, source="merge_request_event", ref="feature") == ["job"]
    assert names("job:\n  script: x\n", source="merge_request_event", ref="feature") == []


def test_variables_precedence_and_expand_false() -> None:
    text = """
variables:
  GLOBAL: g
  SHARED: global
  RAW:
    value: '$NOT_EXPANDED'
    expand: false
  CHOICE:
    value: blue
    options: [blue, green]
    description: colour
job:
  script: x
  variables:
    SHARED: job
  rules:
    - variables: {RULE: r}
isolated:
  script: x
  inherit:
    variables: [GLOBAL]
"""
    plan = compile_ok(text, user_variables={"GLOBAL": "from-project"}).plan
    assert plan is not None
    job = plan.job("job")
    assert job.variables["SHARED"] == "job"
    assert job.variables["GLOBAL"] == "from-project"  # project variables beat YAML ones
    assert job.variables["RULE"] == "r"
    raw = {v.key: v for v in job.yaml_variables}["RAW"]
    assert raw.raw and raw.value == "$NOT_EXPANDED"
    assert [v.key for v in plan.job("isolated").yaml_variables] == ["GLOBAL"]
    assert errors_of("variables:\n  C:\n    value: red\n    options: [blue]\nj:\n  script: x\n") == (
        "variables:c config value must be present in options",
    )


def test_default_and_inherit() -> None:
    text = """
default:
  image: python:3.12
  before_script: [setup]
  retry: 2
  tags: [docker]
  interruptible: true
  timeout: 1h 30m
plain:
  script: x
own_image:
  script: x
  image: {name: alpine, entrypoint: [""]}
no_defaults:
  script: x
  inherit:
    default: false
some_defaults:
  script: x
  inherit:
    default: [image]
"""
    plan = compile_ok(text).plan
    assert plan is not None
    plain = plan.job("plain")
    assert plain.image is not None and plain.image.name == "python:3.12"
    assert plain.before_script == ("setup",)
    assert plain.retry is not None and plain.retry.max == 2
    assert plain.tags == ("docker",) and plain.interruptible is True and plain.timeout == 5400
    own = plan.job("own_image")
    assert own.image is not None and own.image.name == "alpine" and own.image.entrypoint == ("",)
    assert plan.job("no_defaults").image is None and plan.job("no_defaults").before_script == ()
    some = plan.job("some_defaults")
    assert some.image is not None and some.before_script == ()
    assert errors_of("default:\n  script: x\nj:\n  script: x\n") == ("default config contains unknown keys: script",)


def test_legacy_global_keywords() -> None:
    plan = compile_ok("image: ruby:3\nbefore_script: [bundle]\nj:\n  script: x\n").plan
    assert plan is not None
    job = plan.job("j")
    assert job.image is not None and job.image.name == "ruby:3" and job.before_script == ("bundle",)


def test_parallel_number() -> None:
    text = (
        "test:\n  script: x\n  parallel: 3\n"
        "report:\n  stage: deploy\n  script: x\n  needs: [test]\n  dependencies: [test]\n"
    )
    plan = compile_ok(text).plan
    assert plan is not None
    assert plan.job_names == ["test 1/3", "test 2/3", "test 3/3", "report"]
    second = plan.job("test 2/3")
    assert (second.parallel_index, second.parallel_total) == (2, 3)
    assert second.variables["CI_NODE_INDEX"] == "2" and second.variables["CI_NODE_TOTAL"] == "3"
    assert [n.job for n in plan.job("report").needs or ()] == ["test 1/3", "test 2/3", "test 3/3"]
    assert plan.job("report").dependencies == ("test 1/3", "test 2/3", "test 3/3")
    assert errors_of("t:\n  script: x\n  parallel: 201\n") == (
        "jobs:t:parallel config must be less than or equal to 200",
    )


def test_parallel_matrix_naming_and_needs() -> None:
    text = """
build:
  stage: build
  script: x
  parallel:
    matrix:
      - PROVIDER: aws
        STACK: [monitoring, app1]
      - PROVIDER: [gcp, vultr]
        STACK: [data]
      - VERSION: 3.10
deploy:
  stage: deploy
  script: x
  needs:
    - job: build
      parallel:
        matrix:
          - PROVIDER: aws
            STACK: app1
"""
    plan = compile_ok(text).plan
    assert plan is not None
    assert plan.job_names == [
        "build: [aws, monitoring]",
        "build: [aws, app1]",
        "build: [gcp, data]",
        "build: [vultr, data]",
        "build: [3.1]",  # YAML 3.10 is the float 3.1, as in GitLab
        "deploy",
    ]
    job = plan.job("build: [gcp, data]")
    assert job.variables["PROVIDER"] == "gcp" and job.variables["STACK"] == "data"
    assert plan.job("deploy").needs == (Need("build: [aws, app1]"),)
    too_many = (
        "t:\n  script: x\n  parallel:\n    matrix:\n      - A: ["
        + ",".join(str(i) for i in range(15))
        + "]\n        B: ["
        + ",".join(str(i) for i in range(15))
        + "]\n"
    )
    assert errors_of(too_many) == ("jobs:t:parallel:matrix config generates too many jobs (maximum is 200)",)


def test_job_count_cap() -> None:
    jobs = "".join(f"j{i}:\n  script: x\n  parallel: 200\n" for i in range(6))
    (error,) = errors_of(jobs)
    assert "more than 1000 jobs" in error


def test_needs_dag_and_errors() -> None:
    text = """
build:
  stage: build
  script: x
lint:
  stage: build
  script: x
test:
  stage: test
  script: x
  needs:
    - build
    - job: lint
      artifacts: false
    - job: optional_one
      optional: true
deploy:
  stage: deploy
  script: x
  needs: []
"""
    plan = compile_ok(text).plan
    assert plan is not None
    assert plan.job("test").needs == (Need("build"), Need("lint", artifacts=False))
    assert plan.job("deploy").needs == ()
    assert plan.job("build").needs is None
    assert errors_of("b:\n  stage: build\n  script: x\n  needs: [t]\nt:\n  stage: test\n  script: x\n") == (
        "b job: need t is not defined in current or prior stages",
    )
    assert errors_of("b:\n  script: x\n  needs: [nope]\n") == ("b job: undefined need: nope",)
    assert errors_of("a:\n  script: x\nb:\n  script: x\n  needs: [a, a]\n") == (
        "b has the following needs duplicated: a.",
    )
    assert errors_of("a:\n  script: x\n  needs: [b]\nb:\n  script: x\n  needs: [a]\n") == (
        'The pipeline has circular dependencies: topological sort failed: ["a", "b"]',
    )
    assert errors_of("a:\n  script: x\nb:\n  script: x\n  needs: [a]\n  dependencies: [c]\nc:\n  script: x\n") == (
        "jobs:b dependencies the c should be part of needs",
    )


def test_needs_on_job_removed_by_rules() -> None:
    text = """
build:
  stage: build
  script: x
  rules:
    - if: $CI_MERGE_REQUEST_ID
test:
  stage: test
  script: x
  needs: [build]
"""
    result = compile_pipeline(text, context())
    assert result.status == "invalid"
    assert result.errors == ("'test' job needs 'build' job, but 'build' is not in any previous stage",)
    optional = text.replace("needs: [build]", "needs:\n    - job: build\n      optional: true")
    plan = compile_ok(optional).plan
    assert plan is not None and plan.job("test").needs == ()


def test_environment_and_on_stop() -> None:
    text = """
review:
  stage: deploy
  script: deploy
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    url: https://$CI_COMMIT_REF_SLUG.example.com
    on_stop: stop_review
    auto_stop_in: 1 week
  resource_group: review-$CI_COMMIT_REF_SLUG
stop_review:
  stage: deploy
  script: stop
  when: manual
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
"""
    plan = compile_ok(text, ref="Feature/X").plan
    assert plan is not None
    env = plan.job("review").environment
    assert env is not None
    assert (env.name, env.url, env.on_stop, env.action) == (
        "review/feature-x",
        "https://feature-x.example.com",
        "stop_review",
        "start",
    )
    assert plan.job("review").resource_group == "review-feature-x"
    assert plan.job("review").variables["CI_ENVIRONMENT_NAME"] == "review/feature-x"
    broken = text.replace("action: stop", "action: start")
    assert errors_of(broken) == ("review job: on_stop job stop_review needs to have action stop defined",)


def test_artifacts_cache_retry_coverage() -> None:
    text = """
test:
  script: pytest
  coverage: '/TOTAL.*\\s+(\\d+%)$/'
  retry:
    max: 2
    when: [runner_system_failure, stuck_or_timeout_failure]
  artifacts:
    name: "$CI_JOB_NAME"
    paths: [htmlcov/]
    exclude: [htmlcov/*.tmp]
    expire_in: 1 week
    when: always
    expose_as: Coverage
    reports:
      junit: report.xml
      dotenv: build.env
      coverage_report:
        coverage_format: cobertura
        path: coverage.xml
  cache:
    - key:
        files: [poetry.lock]
        prefix: py
      paths: [.venv/]
      policy: pull
    - key: $CI_COMMIT_REF_SLUG
      paths: [.cache/pip]
      when: always
"""
    plan = compile_ok(text).plan
    assert plan is not None
    job = plan.job("test")
    assert job.coverage == "/TOTAL.*\\s+(\\d+%)$/"
    assert job.retry is not None and job.retry.when == ("runner_system_failure", "stuck_or_timeout_failure")
    art = job.artifacts
    assert art is not None
    assert art.reports.junit == ("report.xml",) and art.reports.dotenv == ("build.env",)
    assert "coverage_report" in art.reports.other and art.when == "always" and art.expose_as == "Coverage"
    first, second = job.cache
    assert first.key.files == ("poetry.lock",) and first.key.prefix == "py" and first.policy == "pull"
    assert second.key.value == "$CI_COMMIT_REF_SLUG" and second.when == "always"
    five = "t:\n  script: x\n  cache:\n" + "".join(f"    - key: k{i}\n      paths: [p]\n" for i in range(5))
    assert errors_of(five) == ("jobs:t:cache config no more than 4 caches can be created",)
    assert errors_of("t:\n  script: x\n  retry: 3\n") == ("jobs:t:retry config must be less than or equal to 2",)
    assert errors_of("t:\n  script: x\n  coverage: 'TOTAL'\n") == (
        "jobs:t:coverage config must be a regular expression with re2 syntax",
    )


def test_services_and_timeout() -> None:
    text = """
integration:
  image: python:3.12
  services:
    - postgres:16
    - name: redis:7
      alias: cache
      command: [redis-server, --appendonly, "yes"]
      variables: {REDIS_ARGS: x}
  timeout: 3 hours
  script: pytest -m integration
"""
    plan = compile_ok(text).plan
    assert plan is not None
    job = plan.job("integration")
    assert [s.name for s in job.services] == ["postgres:16", "redis:7"]
    assert job.services[1].alias == "cache" and job.services[1].command == ("redis-server", "--appendonly", "yes")
    assert job.timeout == 3 * 3600
    assert errors_of("t:\n  script: x\n  timeout: forever\n") == ("jobs:t:timeout config should be a duration",)


def test_trigger_bridge_job() -> None:
    text = """
child:
  stage: deploy
  trigger:
    include: ci/child.yml
    strategy: depend
downstream:
  trigger: acme/other
"""
    plan = compile_ok(text).plan
    assert plan is not None
    child = plan.job("child")
    assert child.is_bridge and child.trigger is not None
    assert child.trigger.include == ({"local": "ci/child.yml"},) and child.trigger.strategy == "depend"
    downstream = plan.job("downstream").trigger
    assert downstream is not None and downstream.project == "acme/other"


def test_script_nested_arrays_from_references() -> None:
    text = """
.setup:
  script:
    - echo one
    - [echo two, echo three]
job:
  script:
    - !reference [.setup, script]
    - echo four
"""
    plan = compile_ok(text).plan
    assert plan is not None
    assert plan.job("job").script == ("echo one", "echo two", "echo three", "echo four")
    assert errors_of("job:\n  script:\n    - !reference [.missing, script]\n") == (
        '!reference [".missing", "script"] could not be found',
    )
