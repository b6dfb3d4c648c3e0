from __future__ import annotations

import pytest

from dockyard.runner.masking import Masker

SECRET = "hunter2-very-secret"
TOKEN = "glcbt-AbCdEf0123456789xyz"


def run(masker: Masker, chunks: list[bytes]) -> bytes:
    return b"".join(masker.feed(c) for c in chunks) + masker.flush()


def test_masks_values_and_prefixed_tokens() -> None:
    masker = Masker([SECRET], ["glpat-", "glcbt-"])
    text = f"a {SECRET} b {TOKEN} c glpat-XYZ_12-3.x done\n".encode()
    assert run(masker, [text]) == b"a [MASKED] b [MASKED] c [MASKED] done\n"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_masks_secrets_split_across_chunks(size: int) -> None:
    text = f"start {SECRET} middle {TOKEN} end {SECRET}{SECRET}\n".encode()
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    out = run(Masker([SECRET], ["glcbt-"]), chunks)
    assert out == b"start [MASKED] middle [MASKED] end [MASKED][MASKED]\n"


def test_nothing_secret_is_released_early() -> None:
    masker = Masker([SECRET], ["glrt-"])
    released = masker.feed(b"xx hunter2-very")  # could still become the secret
    assert b"hunter2" not in released
    released += masker.feed(b"-secret yy glrt-abc")
    assert b"glrt-abc" not in released  # a prefixed token may still be growing
    released += masker.feed(b"def\n") + masker.flush()
    assert released == b"xx [MASKED] yy [MASKED]\n"


def test_without_secrets_passes_through() -> None:
    masker = Masker([], [])
    assert masker.feed(b"plain") == b"plain" and masker.flush() == b""
