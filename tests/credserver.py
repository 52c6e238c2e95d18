"""A local stand-in for the container credentials endpoint, for tests.

CodeBuild (like ECS) gives a build its role's credentials through an HTTP endpoint named by
``AWS_CONTAINER_CREDENTIALS_FULL_URI``; botocore's container provider reads it, and reads it again
whenever the credentials it holds come within 15 minutes of their expiry. Each GET here hands out a
new key that lives ``life`` seconds, and calls ``on_issue(access_key, secret, expires)`` first, so
that the git stand-in can accept the key until then and refuse it after, as CodeCommit refuses an
ended session. botocore allows plain http for a loopback address. Expiries are on ``clock``: real time,
or a ``ManualClock`` that a test moves on itself.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Issue = Callable[[str, str, datetime], None]


class ManualClock:
    """A clock that stands still until the test moves it: credential lifetimes that no slow machine ends."""

    def __init__(self) -> None:
        self._now = datetime.now(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


class CredentialsServer:
    def __init__(self, on_issue: Issue, life: float = 3600.0) -> None:
        self.on_issue = on_issue
        self.life = life  # seconds each new key lives
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.issued: list[tuple[str, datetime]] = []  # (access key, expiry) in the order handed out
        self.url = ""
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def issue(self) -> dict[str, str]:
        with self._lock:
            number = next(self._numbers)
            access_key = f"ASIAROTATING{number:08d}"
            secret, token = secrets.token_urlsafe(30), f"RoTaTiNg-{number}-{secrets.token_urlsafe(12)}"
            expires = self.clock() + timedelta(seconds=self.life)
            self.on_issue(access_key, secret, expires)
            self.issued.append((access_key, expires))
        return {
            "AccessKeyId": access_key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def start(self) -> CredentialsServer:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(stand_in.issue()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v2/credentials/build"
        self._thread = threading.Thread(target=self._server.serve_forever, name="credentials", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CredentialsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
