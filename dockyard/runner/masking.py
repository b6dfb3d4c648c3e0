"""Replace secrets in a job's log by ``[MASKED]`` before the log leaves the runner.

Secrets are the values of masked variables, the job token, and tokens recognised by their prefix
(``glpat-…``, ``glcbt-…``, ``glrt-…``: the job's ``features.token_mask_prefixes``). The log arrives in
arbitrary chunks, so a secret may be split across two of them: :class:`Masker` keeps back the tail of
what it has seen that could still be the start of a secret (at most the longest secret minus one byte,
or an unfinished prefixed token) and releases it with the next chunk or at :meth:`Masker.flush`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"[MASKED]"
# Characters a prefixed token continues with (GitLab's tokens are URL-safe base64 and dots).
TOKEN_CHARS = rb"[A-Za-z0-9_\-.]"
# A prefixed token still growing at the end of the buffer is held back, but never more than this.
MAX_HOLD = 4096


class Masker:
    def __init__(self, values: Iterable[str], prefixes: Iterable[str] = ()) -> None:
        secrets = sorted({v.encode() for v in values if v}, key=len, reverse=True)
        prefix_list = sorted({p.encode() for p in prefixes if p}, key=len, reverse=True)
        self._prefixes = prefix_list
        alternatives = [re.escape(p) + TOKEN_CHARS + b"+" for p in prefix_list] + [re.escape(s) for s in secrets]
        self._pattern = re.compile(b"|".join(alternatives)) if alternatives else None
        self._hold = max([len(s) for s in secrets] + [len(p) + 1 for p in prefix_list] + [1]) - 1
        self._pending = b""

    def _is_prefix_token(self, match: re.Match[bytes]) -> bool:
        return any(match.group().startswith(p) for p in self._prefixes)

    def feed(self, data: bytes) -> bytes:
        """Masked output that is safe to send now; the rest waits for more data."""
        return self._process(self._pending + data, final=False)

    def flush(self) -> bytes:
        return self._process(self._pending, final=True)

    def _process(self, buf: bytes, *, final: bool) -> bytes:
        if self._pattern is None:
            self._pending = b""
            return buf
        matches = list(self._pattern.finditer(buf))
        cut = len(buf) if final else max(len(buf) - self._hold, 0)
        if not final:
            for match in matches:
                straddles = match.start() < cut < match.end()
                growing = match.end() == len(buf) and self._is_prefix_token(match)
                if (straddles or growing) and len(buf) - match.start() <= MAX_HOLD:
                    cut = min(cut, match.start())
        out = bytearray()
        pos = 0
        for match in matches:
            if match.end() > cut:
                break
            out += buf[pos : match.start()] + MASK
            pos = match.end()
        if pos < cut:
            out += buf[pos:cut]
        self._pending = buf[max(cut, pos) :]
        return bytes(out)
