"""Dockyard's runner: a separate program that takes CI jobs over the GitLab Runner HTTP protocol.

It imports nothing from Django or the server's apps (an import-linter contract holds it to that). It
knows a server URL, its runner token and, per job, the job's token; never a database.
"""

VERSION = "0.1.0"
