"""What error messages may say: `redact` removes every credential, and names are checked whole."""

from __future__ import annotations

import pytest

from codecommit_backup import ConfigError, Settings, check_settings, redact, valid_repository_name


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("fatal: https://user:p@ss@host/v1/repos/x failed", "fatal: https://***@host/v1/repos/x failed"),
        ("https://AKIA%25TOKEN:20261201T040000Zabc@git-codecommit.x/v1", "https://***@git-codecommit.x/v1"),
        ("ssh://git:s3cret@example.com:22/r.git", "ssh://***@example.com:22/r.git"),
        ("git+ssh://me:pw@host/path and http://a:b@c/d", "git+ssh://***@host/path and http://***@c/d"),
        ("Authorization: Basic QUtJQTpzZWNyZXQ=\nnext line", "Authorization: ***\nnext line"),
        ("> proxy-authorization: Basic dXNlcjpwdw==", "> proxy-authorization: ***"),
        ("https://host/path@v1 stays", "https://host/path@v1 stays"),  # an '@' after the host is no password
        ("user@example.com wrote", "user@example.com wrote"),
    ],
)
def test_redact_removes_every_credential(text: str, redacted: str) -> None:
    assert redact(text) == redacted


@pytest.mark.parametrize("name", ["repo\n", "repo\nother", "", ".", "..", "a" * 101, "with space", "ü"])
def test_repository_names_are_checked_whole(name: str) -> None:
    assert not valid_repository_name(name)


def test_a_bucket_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid bucket name"):
        check_settings(Settings(bucket="my-backups\n", regions=("us-east-1",)), ["us-east-1"])
