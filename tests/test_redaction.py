"""Credentials in URLs are hidden from what wasync prints, in time that grows with the text."""

from __future__ import annotations

import pytest

from whisper_async.redaction import hide_credentials


@pytest.mark.parametrize(
    ("shown", "hidden"),
    [
        ("http://admin:hunter2@127.0.0.1:1", "http://***@127.0.0.1:1"),
        ("at http://admin:hun'ter2@h/x and ftp://u:p@h", "at http://***@h/x and ftp://***@h"),
        ("http://admin:hunter2@x@host/", "http://***@host/"),  # an "@" in the password
        ('{"url": "http://a:b\\"c@h"}', '{"url": "http://***@h"}'),  # a JSON-escaped quote
        ("s3://bucket/key@v1 and http://host/a@b", "s3://bucket/key@v1 and http://host/a@b"),
        ("no scheme ://user:pw@host", "no scheme ://user:pw@host"),
        ("a.a.a." * 3, "a.a.a." * 3),
    ],
)
def test_the_user_and_password_of_a_url_are_hidden(shown: str, hidden: str) -> None:
    assert hide_credentials(shown) == hidden


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", ["a." * 500_000, "a://" * 250_000, "http://" + "a" * 1_000_000])
def test_a_megabyte_of_url_like_text_is_read_in_linear_time(text: str) -> None:
    """A forged result of 80 KB of "a.a.a." held `fetch --json` for 36 s: the old expression
    took quadratic time, so a megabyte would have taken about an hour."""
    assert hide_credentials(text) == text
