"""CI/CD: the ``.gitlab-ci.yml`` compiler (pure, in ``compiler/``); models and services come later."""
