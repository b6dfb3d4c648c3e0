"""The pre-receive and post-receive hook, run by ``git receive-pack`` on the server.

Self-contained on purpose (standard library only, no Dockyard imports): it is copied into
``$DOCKYARD_HOME/hooks`` and started twice per push, so it must start fast and must not need Django.
It runs as ``python -IS`` (no ``site``, no user environment: about 20 ms less per start, decision 0004)
and speaks HTTP with ``http.client`` rather than ``urllib.request``, which imports much more.
Like gitlab-shell, it asks the server through an authenticated internal endpoint, so protected
branches and every other push rule are decided by the server's one permission module.

Environment (set by the smart HTTP handler for the receive-pack it starts):
``DOCKYARD_INTERNAL_URL``, ``DOCKYARD_INTERNAL_SECRET``, ``DOCKYARD_PROJECT_ID``, ``DOCKYARD_USER_ID``,
``DOCKYARD_PROTOCOL``; ``GIT_PUSH_OPTION_COUNT``/``GIT_PUSH_OPTION_<n>`` come from git itself.
"""

import http.client
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

ZERO = "0" * 40


def _is_ancestor(old: str, new: str) -> bool:
    # Runs inside receive-pack's quarantine environment, so the pushed objects are visible.
    result = subprocess.run(["git", "merge-base", "--is-ancestor", old, new], check=False, capture_output=True)
    return result.returncode == 0


def _changes(lines: list[str], *, check_force: bool) -> list[dict[str, object]]:
    changes: list[dict[str, object]] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        forced = False
        if check_force and old.strip("0") and new.strip("0"):
            forced = not _is_ancestor(old, new)
        changes.append({"oldrev": old, "newrev": new, "ref": ref, "forced": forced})
    return changes


def _push_options() -> list[str]:
    count = int(os.environ.get("GIT_PUSH_OPTION_COUNT", "0") or 0)
    return [os.environ.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(count)]


def _call(endpoint: str, payload: dict[str, object]) -> dict[str, object]:
    url = urlsplit(os.environ["DOCKYARD_INTERNAL_URL"].rstrip("/") + "/api/v4/internal/" + endpoint)
    connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(url.hostname or "127.0.0.1", url.port, timeout=60)
    try:
        connection.request(
            "POST",
            url.path,
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Gitlab-Shared-Secret": os.environ["DOCKYARD_INTERNAL_SECRET"],
            },
        )
        response = connection.getresponse()
        status, body = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return {"status": False, "message": f"Internal API unreachable: {exc}"}
    finally:
        connection.close()
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        return answer
    if status >= 400:
        return {"status": False, "message": f"Internal API error ({status})"}
    return {"status": False, "message": "Internal API unreachable: not a JSON object"}


def main() -> int:
    mode = os.path.basename(sys.argv[0])
    lines = sys.stdin.read().splitlines()
    payload: dict[str, object] = {
        "project_id": int(os.environ["DOCKYARD_PROJECT_ID"]),
        "user_id": int(os.environ["DOCKYARD_USER_ID"]),
        "protocol": os.environ.get("DOCKYARD_PROTOCOL", "http"),
        "push_options": _push_options(),
    }
    if mode == "pre-receive":
        payload["changes"] = _changes(lines, check_force=True)
        answer = _call("allowed", payload)
        if not answer.get("status"):
            sys.stderr.write(f"{answer.get('message') or 'Push refused.'}\n")
            return 1
        return 0
    if mode == "post-receive":
        payload["changes"] = _changes(lines, check_force=False)
        answer = _call("post_receive", payload)
        messages = answer.get("messages") or []
        for message in messages if isinstance(messages, list) else []:
            sys.stderr.write(f"{message}\n")
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
