"""moto in server mode: a real HTTP endpoint for STS, S3 and CodeCommit on loopback.

moto's CodeCommit lacks ListRepositories, so this module adds it with the real
API's shape: repositories sorted by name, `nextToken` paging, and a page size the
caller sets (AWS pages at 1,000).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from moto.codecommit.responses import CodeCommitResponse
from moto.server import ThreadedMotoServer

ACCOUNT_ID = "123456789012"  # moto's default account; STS agrees


class MotoServer:
    def __init__(self) -> None:
        self.page_size = 1000  # what AWS returns per ListRepositories page
        self.list_calls = 0
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        install_list_repositories(self)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every bucket, object and repository."""
        url = f"{self.url}/moto-api/reset"
        request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310  # http to loopback moto only
        with urllib.request.urlopen(request) as response:  # noqa: S310  # http to loopback moto only
            response.read()
        self.page_size = 1000
        self.list_calls = 0

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def install_list_repositories(server: MotoServer) -> None:
    """Give moto's CodeCommit a ListRepositories that pages like AWS's."""

    def list_repositories(self: Any) -> str:
        server.list_calls += 1
        names = sorted(self.codecommit_backend.repositories)
        if self._get_param("order") == "descending":
            names.reverse()
        start = int(self._get_param("nextToken") or 0)
        page = names[start : start + server.page_size]
        body: dict[str, Any] = {
            "repositories": [
                {
                    "repositoryName": name,
                    "repositoryId": self.codecommit_backend.repositories[name].repository_metadata["repositoryId"],
                }
                for name in page
            ]
        }
        if start + server.page_size < len(names):
            body["nextToken"] = str(start + server.page_size)
        return json.dumps(body)

    CodeCommitResponse.list_repositories = list_repositories  # type: ignore[attr-defined]
