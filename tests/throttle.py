"""One request rate for a whole account and region, shared by CodeCommit's API and its git endpoint.

AWS's CodeCommit troubleshooting guide: "All calls to CodeCommit, whether from an application, the
AWS CLI, a Git client, or the AWS Management Console, are subject to a maximum number of requests
per second and overall active requests". No number is published, so a test picks one.

``AccountRate`` is a token bucket: it starts full with ``burst`` tokens and refills at ``rate``
tokens a second, never beyond ``burst``. Each request takes one token; a request that finds the
bucket empty is refused (and takes nothing). tests/motoserver.py answers a refused API call with
CodeCommit's XML 400 ThrottlingException, tests/gitserver.py a refused git request with HTTP 429;
``Bed.throttle_account`` in tests/bed.py puts one bucket on both.

The "overall active requests" half of AWS's sentence (a limit on concurrency) is not modelled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

API = "api"  # a CodeCommit API call (moto)
GIT = "git"  # an authenticated git smart-HTTP request (the git server)


class AccountRate:
    """A thread-safe token bucket, with what it allowed and refused counted by kind ("api", "git")."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst < 0:
            raise ValueError(f"rate and burst must not be negative: {rate}, {burst}")
        self.rate = float(rate)  # tokens added per second of ``clock``
        self.burst = float(burst)  # the bucket's size, and what it holds at the start
        self.clock = clock
        self.allowed: Counter[str] = Counter()  # requests that took a token, by kind
        self.throttled: Counter[str] = Counter()  # requests refused, by kind
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now

    def take(self, kind: str = API) -> bool:
        """Take one token for a request of ``kind``: True if there was one, False to refuse it."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                self.allowed[kind] += 1
                return True
            self.throttled[kind] += 1
            return False

    @property
    def tokens(self) -> float:
        """What the bucket holds now."""
        with self._lock:
            self._refill()
            return self._tokens

    def reset(self) -> None:
        """Fill the bucket and forget the counts."""
        with self._lock:
            self._tokens = self.burst
            self._last = self.clock()
            self.allowed.clear()
            self.throttled.clear()
