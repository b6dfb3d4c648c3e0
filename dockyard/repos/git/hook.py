"""The pre-receive and post-receive hook, run by ``git receive-pack`` on the server.

Self-contained on purpose (standard library only, no Dockyard imports): it is copied into
``$DOCKYARD_HOME/hooks`` and started once per push, so it must start fast and must not need Django.
Like gitlab-shell, it asks the server through an authenticated internal endpoint, so protected
branches and every other push rule are decided by the server's one permission module.

Environment (set by the smart HTTP handler for the receive-pack it starts):
``DOCKYARD_INTERNAL_URL``, ``DOCKYARD_INTERNAL_SECRET``, ``DOCKYARD_PROJECT_ID``, ``DOCKYARD_USER_ID``,
``DOCKYARD_PROTOCOL``; ``GIT_PUSH_OPTION_COUNT``/``GIT_PUSH_OPTION_<n>`` come from git itself.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

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
    url = os.environ["DOCKYARD_INTERNAL_URL"].rstrip("/") + "/api/v4/internal/" + endpoint
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "Gitlab-Shared-Secret": os.environ["DOCKYARD_INTERNAL_SECRET"],
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read() or b"{}")  # type: ignore[no-any-return]
        except ValueError:
            return {"status": False, "message": f"Internal API error ({exc.code})"}
    except (OSError, ValueError) as exc:
        return {"status": False, "message": f"Internal API unreachable: {exc}"}


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
