"""CodeCommit's events as an EventBridge rule delivers them to an SQS target: the message body is the
event itself, in EventBridge's envelope (``detail-type``, ``source``, ``account``, ``region``,
``resources``, ``detail``), with the detail members of the CodeCommit user guide's "Monitoring
CodeCommit events" examples. For the journal's tests and its benchmark."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "123456789012"  # moto's default account; STS agrees


def event(kind: str, detail: dict[str, Any], account: str = ACCOUNT, region: str = "us-east-1") -> str:
    """An event as EventBridge delivers it to an SQS target: the envelope is the message body."""
    names = detail.get("repositoryNames") or [detail.get("repositoryName", "")]
    return json.dumps(
        {
            "version": "0",
            "id": "0f4c6a5e-1111-2222-3333-444455556666",
            "detail-type": kind,
            "source": "aws.codecommit",
            "account": account,
            "time": "2026-12-05T03:12:00Z",
            "region": region,
            "resources": [f"arn:aws:codecommit:{region}:{account}:{name}" for name in names],
            "detail": detail,
        }
    )


def push(name: str) -> str:
    detail = {"event": "referenceUpdated", "repositoryName": name, "referenceFullName": "refs/heads/main"}
    return event("CodeCommit Repository State Change", {**detail, "commitId": "0" * 40, "oldCommitId": "1" * 40})
