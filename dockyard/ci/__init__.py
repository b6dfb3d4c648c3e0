"""CI/CD: the ``.gitlab-ci.yml`` compiler (pure, in ``compiler/``), pipelines and jobs, and the GitLab
Runner protocol (``runner_api.py`` and the long-polling ``runner_http.py``)."""
