"""The pace: throttles recognised whatever their shape, and one request rate per account and region.

Real CodeCommit answers a throttled API call with HTTP 400, no x-amzn-ErrorType header and the XML
body <ThrottlingException><Message>Rate exceeded</Message></ThrottlingException> (boto/boto3#3663 for
ListTagsForResource, terraform-provider-aws#7075 for GetRepository), which botocore reads as the
error code "400" and does not retry. These tests send the raw answers AWS sends, over real HTTP,
through a real botocore client with the job's handlers on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from codecommit_backup import (
    MIN_RATE,
    RATE_CUT,
    RATE_WINDOW,
    START_RATE,
    Pace,
    PacedRetries,
    Throttled,
    is_throttle,
    with_retries,
)

XML_THROTTLE = b"<ThrottlingException><Message>Rate exceeded</Message></ThrottlingException>"
JSON_THROTTLE = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
JSON = "application/x-amz-json-1.1"
# (status, content type, body) of an answer, as each shape reaches a client.
ANSWERS = {
    "xml-400": (400, "text/xml", XML_THROTTLE),  # what CodeCommit sends (boto/boto3#3663)
    "json-400": (400, JSON, JSON_THROTTLE),  # what botocore's model expects
    "429": (429, "text/plain", b"Too Many Requests"),
    "503-throttling": (503, "text/xml", b"<Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"),
}
NOT_THROTTLES = {
    "json-400-other": (400, JSON, json.dumps({"__type": "InvalidRepositoryNameException"}).encode()),
    "json-400-named": (  # an error the service named is that error, whatever its message says
        400,
        JSON,
        json.dumps(
            {"__type": "RepositoryDoesNotExistException", "message": "ThrottlingService does not exist"}
        ).encode(),
    ),
    "503-plain": (503, "text/plain", b"Service Unavailable"),
    "500-rate": (500, "text/plain", b"Rate exceeded"),  # a 500 is a server error, whatever it says
}
METADATA = {"repositoryMetadata": {"repositoryName": "web", "Arn": "arn:aws:codecommit:us-east-1:123456789012:web"}}


@pytest.mark.parametrize("shape", ANSWERS)
def test_each_shape_of_throttle_is_recognised(shape: str) -> None:
    status, _, body = ANSWERS[shape]
    assert is_throttle(status, "", body)


@pytest.mark.parametrize("shape", NOT_THROTTLES)
def test_other_errors_are_not_throttles(shape: str) -> None:
    status, kind, body = NOT_THROTTLES[shape]
    code = json.loads(body)["__type"] if kind == JSON else ""  # what botocore parses from a JSON error
    assert not is_throttle(status, code, body)


def test_a_pace_runs_for_hours_without_a_throttle() -> None:
    """The slow start's doubling once overflowed a float after 17 quiet minutes."""
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    for _ in range(100):
        clock.now += 60  # a request a minute, for 100 minutes
        pace.acquire()
    assert pace.rate <= 2 * 1 / RATE_WINDOW + START_RATE  # never past twice what was sent (or where it began)


class FakeClock:
    """A clock the test moves: sleeping moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_a_pace_starts_slow_and_doubles_each_second_until_the_first_throttle() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    for _ in range(int(START_RATE)):
        pace.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.0, abs=0.2)  # about START_RATE in the first second
    for _ in range(int(6 * START_RATE)):
        pace.acquire()
    assert clock.now - 1000.0 < 4.0  # 7 x START_RATE requests: 7 s at a steady START_RATE
    assert pace.rate > 4 * START_RATE and pace.throttles == 0


def test_a_throttle_sets_the_rate_from_what_the_service_let_through() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    clock.now += 5 * RATE_WINDOW  # well into the run
    pace.rate = 100.0  # sending at 100 a second...
    for _ in range(40):  # ...while the service lets 40 a window through
        pace.answered()
        clock.now += RATE_WINDOW / 40
    before = pace.rate
    for _ in range(16):  # sixteen threads throttled at once count once
        pace.throttled()
    assert pace.rate == pytest.approx(RATE_CUT * min(before, 40 / RATE_WINDOW))
    assert pace.throttles == 16
    started = clock.now
    for _ in range(14):
        pace.acquire()
    assert clock.now - started == pytest.approx(14 / pace.rate, rel=0.1)  # spaced, not sent at once


def test_the_rate_never_falls_below_its_floor_and_grows_back_without_throttles() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    pace.throttled()  # nothing let through: the floor
    assert pace.rate == MIN_RATE
    for _ in range(200):  # the pace's own spacing advances the clock
        pace.acquire()
        pace.answered()
    assert pace.rate is not None and pace.rate > 4 * MIN_RATE


def test_a_quiet_spell_does_not_open_the_gates() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    pace.throttled()
    clock.now += 3600  # an hour of nothing sent
    pace.acquire()
    assert pace.rate is not None and pace.rate <= max(2 / RATE_WINDOW, MIN_RATE)  # twice what was sent


def test_a_ceiling_holds_from_the_first_request() -> None:
    clock = FakeClock()
    pace = Pace(10, clock=clock, sleep=clock.sleep)
    started = clock.now
    for _ in range(21):
        pace.acquire()
    assert clock.now - started == pytest.approx(2.0)  # 21 requests at 10 a second: 2 s of gaps
    for _ in range(50):
        pace.answered()
    pace.throttled()
    assert pace.rate == pytest.approx(RATE_CUT * 10)  # what went through, but never above the ceiling


def test_a_clone_takes_several_turns() -> None:
    clock = FakeClock()
    pace = Pace(2, clock=clock, sleep=clock.sleep)
    pace.acquire(3)
    pace.acquire(1)
    assert clock.now - 1000.0 == pytest.approx(1.5)


def test_patience_lasts_until_the_deadline() -> None:
    clock = FakeClock()
    pace = Pace(deadline=clock.now + 60, clock=clock, sleep=clock.sleep)
    assert pace.patient(since=clock.now)
    clock.now += 61
    assert not pace.patient(since=clock.now - 1)


class Answers(BaseHTTPRequestHandler):
    """Answers each POST with the next of the server's queued answers, then with success."""

    def do_POST(self) -> None:  # http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server: Any = self.server
        with server.lock:
            server.requests += 1
            status, kind, body = server.queue.pop(0) if server.queue else (200, JSON, json.dumps(METADATA).encode())
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    server.lock, server.queue, server.requests = threading.Lock(), [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_of(endpoint: Any, retries: dict[str, Any]) -> Any:
    """A CodeCommit client of the stand-in endpoint, with these botocore retries; the endpoint's queue
    and count start afresh."""
    endpoint.queue.clear()
    endpoint.requests = 0
    return boto3.client(
        "codecommit",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{endpoint.server_address[1]}",
        aws_access_key_id="AKIATESTPACE00000001",
        aws_secret_access_key="not-a-secret",  # noqa: S106  # a fake, for a loopback stand-in
        config=Config(retries=retries),
    )


def paced_client(endpoint: Any, pace: Pace, attempts: int = 3) -> Any:
    """A CodeCommit client made as the job makes it: botocore's retries off, PacedRetries on."""
    client = client_of(endpoint, {"mode": "standard", "total_max_attempts": 1})
    PacedRetries(pace, attempts).install(client)
    return client


def test_botocore_alone_does_not_retry_codecommit_s_throttle(endpoint: Any) -> None:
    """The harshness the pace exists for: the XML 400 is error "400", tried once."""
    client = client_of(endpoint, {"mode": "standard", "max_attempts": 5})
    endpoint.queue[:] = [ANSWERS["xml-400"]]
    with pytest.raises(ClientError) as caught:
        client.get_repository(repositoryName="web")
    assert caught.value.response["Error"]["Code"] == "400"
    assert endpoint.requests == 1


@pytest.mark.parametrize("shape", ANSWERS)
def test_every_shape_of_throttle_is_retried_at_the_pace(endpoint: Any, shape: str) -> None:
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    client = paced_client(endpoint, pace)
    endpoint.queue[:] = [ANSWERS[shape]] * 5  # more than `attempts`: throttles do not count against it
    answer = client.get_repository(repositoryName="web")
    assert answer["repositoryMetadata"]["repositoryName"] == "web"
    assert endpoint.requests == 6
    assert pace.throttles == 5 and pace.rate == MIN_RATE  # nothing went through: the floor


def test_a_throttle_past_the_deadline_reaches_the_caller_as_a_throttle(endpoint: Any) -> None:
    clock = FakeClock()
    pace = Pace(deadline=clock.now - 1, clock=clock, sleep=clock.sleep)
    client = paced_client(endpoint, pace)
    endpoint.queue[:] = [ANSWERS["xml-400"]] * 3
    with pytest.raises(ClientError) as caught:
        client.get_repository(repositoryName="web")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"  # not "400"
    assert endpoint.requests == 1


def test_other_errors_keep_botocore_s_standard_retries(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # botocore's backoff between tries
    pace = Pace()
    client = paced_client(endpoint, pace, attempts=3)
    endpoint.queue[:] = [NOT_THROTTLES["503-plain"]] * 5
    with pytest.raises(ClientError) as caught:
        client.get_repository(repositoryName="web")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert endpoint.requests == 3  # three attempts in all, and no budget shared with throttles
    assert pace.throttles == 0 and pace.requests == 3


def test_git_throttles_are_tried_again_until_the_deadline_without_counting() -> None:
    clock = FakeClock()
    pace = Pace(deadline=clock.now + 30, clock=clock, sleep=clock.sleep)
    tries: list[float] = []

    def listing() -> str:
        tries.append(clock.now)
        pace.acquire()
        if len(tries) <= 5:  # five throttles, more than --tries, then an answer
            raise Throttled("listing refs failed: HTTP 429")
        return "refs"

    assert with_retries(listing, 3, 2.0, "web", clock.sleep, pace) == "refs"
    assert len(tries) == 6 and pace.throttles == 5

    def throttled_for_ever() -> str:
        pace.acquire()
        raise Throttled("listing refs failed: HTTP 429")

    with pytest.raises(Throttled):
        with_retries(throttled_for_ever, 3, 2.0, "web", clock.sleep, pace)
    assert pace.deadline is not None and clock.now >= pace.deadline  # tried at the pace until the deadline, then named


def test_without_a_pace_a_throttle_counts_as_a_transient_failure() -> None:
    slept: list[float] = []
    calls = []

    def listing() -> str:
        calls.append(1)
        raise Throttled("listing refs failed: HTTP 429")

    with pytest.raises(Throttled):
        with_retries(listing, 3, 2.0, "web", slept.append)
    assert len(calls) == 3 and slept == [2.0, 4.0]


def test_throttled_attempts_do_not_use_up_the_attempts_of_other_errors(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # botocore's backoff between tries
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    client = paced_client(endpoint, pace, attempts=3)
    endpoint.queue[:] = [ANSWERS["xml-400"]] * 4 + [NOT_THROTTLES["503-plain"]] * 2  # then success
    assert client.get_repository(repositoryName="web")["repositoryMetadata"]["repositoryName"] == "web"
    assert endpoint.requests == 7


def test_a_clone_s_requests_count_as_let_through() -> None:
    """A clone's three requests succeed as one: unless they count, a throttle amid clones measures
    almost nothing let through and cuts the rate to its floor."""
    clock = FakeClock()
    pace = Pace(clock=clock, sleep=clock.sleep)
    clock.now += 5 * RATE_WINDOW
    pace.rate = 100.0
    for _ in range(10):  # ten clones in the window, no API answer
        clock.now += RATE_WINDOW / 10
        pace.answered(3)
    pace.throttled()
    assert pace.rate == pytest.approx(RATE_CUT * 30 / RATE_WINDOW)
