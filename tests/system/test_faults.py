"""What degrades when a dependency stops (README, "Running in production"): PostgreSQL, then Redis, each
stopped under load and started again, with gunicorn (two workers) serving the demo all along.

The PostgreSQL cluster and the Redis are private to this module (never the machine's own, which the rest
of the suite uses): a cluster made with Debian's pg_createcluster on a free port, and a redis-server without
persistence under a ServerFactory. Each test starts its own gunicorn, so its workers start cold, warms both
workers with concurrent requests, then stops a dependency while a thread keeps calling generate, validate
and the JWKS, and starts it again. A 500 anywhere is a failure; the gunicorn log (printed for a failed test)
holds the traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal import invalidation
from tests.servers import LOOPBACK, HttpAnswer, ServerFactory, free_port
from tests.system.nodes import (
    SWITCH_SECONDS,
    ConsoleSession,
    Node,
    PrivatePostgres,
    PrivateRedis,
    Traffic,
    api_document,
    burst,
    import_and_publish,
    poll,
    portal_env,
    postgres_database,
    postgres_pass_only,
    prepare_demo,
    settle,
    start_node,
)

pytestmark = [pytest.mark.slow, postgres_pass_only]

RECOVERY_SECONDS = 20.0  # the database-needing request answers normally again within this, without a restart
SAMPLES = 8  # requests per check: with two sync workers answering, both answer some of them
STORE_DOWN = "The configuration store is unavailable; try again shortly."
PRODUCTION_GREETING = "hello from production"


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    client_id: str
    work_dir: Path
    postgres_down: bool = False
    redis_down: bool = False

    def stop_postgres(self) -> None:
        self.postgres_down = True
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres.start()
        self.postgres_down = False

    def stop_redis(self) -> None:
        self.redis_down = True
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis.start()
        self.redis_down = False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A private PostgreSQL and Redis, migrated and seeded with the demo, plus an API in the production catalog
    that no gateway process serves before a test asks for it."""
    unavailable = PrivatePostgres.unavailable_reason()
    if unavailable:
        pytest.skip(unavailable)
    work_dir = tmp_path_factory.mktemp("faults")
    postgres = PrivatePostgres()
    try:
        postgres.create()
        with (
            postgres_database(postgres.server_url, prefix="portal") as database_url,
            ServerFactory(log_dir=work_dir / "logs") as services,
        ):
            redis = PrivateRedis(services)
            redis.start()
            env = portal_env(database_url=database_url, cache_url=redis.cache_url, var_dir=work_dir / "var")
            demo = prepare_demo(env)
            production_api = api_document(
                name="production-hello", base_path="/hello", greeting=PRODUCTION_GREETING, client_id=False
            )
            import_and_publish(env, work_dir, production_api, "production")
            stack = Stack(postgres=postgres, redis=redis, env=env, client_id=demo["client_id"], work_dir=work_dir)
            yield stack
            if stack.postgres_down:  # the database is dropped next: it must be up
                stack.start_postgres()
    finally:
        print(f"----- private PostgreSQL {postgres.name}: end of {postgres.log_path} -----")
        print(postgres.log_tail())
        postgres.drop()


@pytest.fixture
def node(stack: Stack, tmp_path: Path) -> Iterator[Node]:
    """A fresh gunicorn (cold workers) on the stack; whatever a test stopped is started again afterwards."""
    with ServerFactory(log_dir=tmp_path / "logs") as servers:
        try:
            yield Node(start_node(servers, stack.env, "gunicorn"), stack.client_id)
        finally:
            if stack.postgres_down:
                stack.start_postgres()
            if stack.redis_down:
                stack.start_redis()


def warm(node: Node) -> None:
    """Warm both workers: concurrent requests, so each sync worker takes some (one request at a time each)."""
    token = node.token()
    calls: list[Callable[[], HttpAnswer]] = [node.generate, lambda: node.validate(token), node.jwks]
    assert {answer.status for answer in burst(calls)} == {200}


def token_traffic(node: Node) -> Traffic:
    """generate, validate (the newest token) and the JWKS in a loop."""
    latest = {"token": node.token()}

    def generate() -> HttpAnswer:
        answer = node.generate()
        if answer.status == 200:
            latest["token"] = answer.headers["authorization"].removeprefix("Bearer ")
        return answer

    return Traffic({"generate": generate, "validate": lambda: node.validate(latest["token"]), "jwks": node.jwks})


def readiness(node: Node) -> set[tuple[int, str]]:
    """What /readyz says over SAMPLES calls, as (status, JSON body) pairs; without the configuration version,
    which differs between workers while a change spreads."""
    answers = (node.readyz() for _ in range(SAMPLES))
    return {(status, json.dumps(_without_version(body), sort_keys=True)) for status, body in answers}


def _without_version(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name != "gateway_version"}


def ready(code: int, **body: str) -> set[tuple[int, str]]:
    return {(code, json.dumps(body, sort_keys=True))}


def no_server_errors(node: Node) -> None:
    log = node.server.logs()
    assert '"status":500' not in log, node.server.log_tail(80)
    assert "Internal Server Error" not in log, node.server.log_tail(80)


def test_with_the_database_down_warm_token_requests_keep_answering(stack: Stack, node: Node) -> None:
    warm(node)
    assert readiness(node) == ready(200, status="ok", database="ok", cache="ok", gateway="warm")
    with token_traffic(node) as traffic:
        poll(lambda: len(traffic.calls) >= 6, since=time.monotonic(), within=10, what="traffic flows")
        stack.stop_postgres()
        stopped = time.monotonic()

        # A catalog this process never served needs the database: 503 with a clear message, never 500.
        for _ in range(SAMPLES):
            answer = node.hello("/hello", catalog="production")
            assert answer.status == 503, answer.text
            assert json.loads(answer.body)["moreInformation"] == STORE_DOWN
            jwks = node.jwks("production")
            assert jwks.status == 503, jwks.text
        # A warm node is degraded, not unavailable: the load balancer keeps it.
        assert readiness(node) == ready(200, status="degraded", database="unavailable", cache="ok", gateway="warm")
        # Let every worker look at the configuration version a few times while the database is away.
        time.sleep(max(0.0, stopped + 2 * invalidation.recheck_seconds() + 0.5 - time.monotonic()))

        stack.start_postgres()
        started = time.monotonic()
        answer, elapsed = poll(
            lambda: (r := node.hello("/hello", catalog="production")).status == 200 and r,
            since=started,
            within=RECOVERY_SECONDS,
            what="the database-needing request answers again once PostgreSQL is back",
        )
        print(f"the production catalog answers {elapsed:.2f}s after PostgreSQL started again")
        assert answer.text == PRODUCTION_GREETING
        for _ in range(SAMPLES):
            assert node.hello("/hello", catalog="production").text == PRODUCTION_GREETING
            assert node.jwks("production").status == 200
        assert readiness(node) == ready(200, status="ok", database="ok", cache="ok", gateway="warm")
        poll(lambda: traffic.between(started, time.monotonic()), since=started, within=10, what="traffic after")

    outage = traffic.between(stopped, started)
    print(f"{len(outage)} token requests while PostgreSQL was down, {len(traffic.calls)} in all")
    assert {call.operation for call in outage} == {"generate", "validate", "jwks"}
    assert traffic.failures() == []
    no_server_errors(node)


def test_with_the_database_down_the_console_answers_503(stack: Stack, node: Node) -> None:
    console = ConsoleSession(node.server)
    console.login()
    assert console.request("GET", "/admin/").status == 200
    stack.stop_postgres()
    try:
        answer = console.request("GET", "/admin/")
    finally:
        stack.start_postgres()
    assert answer.status == 503, f"{answer.status}: {answer.text[:300]}"
    assert "unavailable" in answer.text.lower()


def test_with_redis_down_the_service_keeps_answering_and_follows_publishes(stack: Stack, node: Node) -> None:
    warm(node)
    assert readiness(node) == ready(200, status="ok", database="ok", cache="ok", gateway="warm")
    with token_traffic(node) as traffic:
        poll(lambda: len(traffic.calls) >= 6, since=time.monotonic(), within=10, what="traffic flows")
        stack.stop_redis()
        stopped = time.monotonic()
        assert readiness(node) == ready(200, status="degraded", database="ok", cache="unavailable", gateway="warm")

        # A publish while Redis is down reaches the node: it reads the version counter from the database.
        assert node.hello("/redis-down", client_id=node.client_id).status == 404
        document = api_document(name="redis-down", base_path="/redis-down", greeting="published without Redis")
        import_and_publish(stack.env, stack.work_dir, document, "sandbox")
        published = time.monotonic()
        _, elapsed = poll(
            lambda: node.hello("/redis-down", client_id=node.client_id).status == 200,
            since=published,
            within=SWITCH_SECONDS,
            what="the node serves an API published while Redis is down",
        )
        print(f"a publish while Redis is down is served after {elapsed:.2f}s")
        settle(stack.env, node)
        for _ in range(SAMPLES):
            assert node.hello("/redis-down", client_id=node.client_id).text == "published without Redis"

        stack.start_redis()
        started = time.monotonic()
        poll(
            lambda: readiness(node) == ready(200, status="ok", database="ok", cache="ok", gateway="warm"),
            since=started,
            within=SWITCH_SECONDS,
            what="/readyz says ok once Redis is back",
        )
        # All is well: a publish now reaches the node through Redis again.
        document = api_document(name="redis-back", base_path="/redis-back", greeting="published with Redis")
        import_and_publish(stack.env, stack.work_dir, document, "sandbox")
        published = time.monotonic()
        poll(
            lambda: node.hello("/redis-back", client_id=node.client_id).status == 200,
            since=published,
            within=SWITCH_SECONDS,
            what="the node serves an API published once Redis is back",
        )
        poll(lambda: traffic.between(started, time.monotonic()), since=started, within=10, what="traffic after")

    outage = traffic.between(stopped, started)
    print(f"{len(outage)} token requests while Redis was down, {len(traffic.calls)} in all")
    assert {call.operation for call in outage} == {"generate", "validate", "jwks"}
    assert traffic.failures() == []
    no_server_errors(node)


def test_a_publish_from_a_host_that_cannot_reach_redis_reaches_the_nodes(stack: Stack, node: Node) -> None:
    """A partial outage: the operator's host loses Redis while the nodes keep it (a network partition, or a
    Redis restarted from an older snapshot)."""
    warm(node)
    assert node.hello("/partitioned", client_id=node.client_id).status == 404
    cut_off = {**stack.env, "CACHE_URL": f"rediscache://{LOOPBACK}:{free_port()}/0"}  # nothing listens there
    document = api_document(name="partitioned", base_path="/partitioned", greeting="published without Redis")
    import_and_publish(cut_off, stack.work_dir, document, "sandbox")
    published = time.monotonic()
    poll(
        lambda: node.hello("/partitioned", client_id=node.client_id).status == 200,
        since=published,
        within=SWITCH_SECONDS,
        what="the node serves an API published from a host that could not reach Redis",
    )
