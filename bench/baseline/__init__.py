"""A bare Django project: the yardstick Dockyard's numbers are divided by (see bench/README.md)."""
