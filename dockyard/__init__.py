__version__ = "0.1.0"
GITLAB_API_VERSION = "18.6.0"  # the GitLab release whose REST API v4 Dockyard follows
