"""Two nodes, one PostgreSQL database and one Redis: what one node's operator does, the other follows within
seconds (README, "Running in production"; DESIGN.md section 7).

Each node is ``gunicorn -c gunicorn.conf.py portal.wsgi`` with two workers; the operator acts "on node A" with
management commands run in node A's environment. Node B is only ever asked over HTTP. Every change must show
on B within SWITCH_SECONDS of the command's return (each process looks at the version once a second), and
from a moment later on every worker of B.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import ServerFactory
from tests.system.nodes import (
    SWITCH_SECONDS,
    Node,
    api_document,
    import_and_publish,
    kid,
    manage,
    poll,
    portal_env,
    postgres_database,
    postgres_pass_only,
    prepare_demo,
    redis_database,
    reset_client_id,
    reset_secret,
    settle,
    start_node,
)

pytestmark = [pytest.mark.slow, postgres_pass_only]

REDIS_DB = 5  # this module's own Redis database number (the suite's is 1)
SAMPLES = 8  # requests after a change has settled: with two workers per node, both answer some of them


@dataclass
class Cluster:
    a: Node
    b: Node
    env: dict[str, str]  # node A's environment: the operator's commands run in it
    work_dir: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Built once for the module: the first test only reads, the second changes things."""
    tmp_path = tmp_path_factory.mktemp("multinode")
    with (
        postgres_database(prefix="systest_multinode") as database_url,
        redis_database(REDIS_DB) as cache_url,
        ServerFactory(log_dir=tmp_path / "logs") as servers,
    ):
        env = portal_env(database_url=database_url, cache_url=cache_url, var_dir=tmp_path / "var")
        demo = prepare_demo(env)
        a = Node(start_node(servers, env, "node-a"), demo["client_id"])
        b = Node(start_node(servers, dict(env), "node-b"), demo["client_id"])
        yield Cluster(a=a, b=b, env=env, work_dir=tmp_path)


def test_a_token_minted_on_one_node_validates_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    for _ in range(SAMPLES // 2):
        from_a, from_b = a.token(), b.token()
        assert b.validate(from_a).status == 200
        assert a.validate(from_b).status == 200
        assert kid(from_a) == kid(from_b)
    assert a.jwks_kids() == b.jwks_kids() == {kid(from_a)}
    # The twin: one character of the signature changed, and B refuses it.
    tampered = from_a[:-2] + ("A" if from_a[-2] != "A" else "B") + from_a[-1]
    refused = b.validate(tampered)
    assert refused.status == 400
    assert refused.text.startswith("JWT validation failed")


def test_a_publish_on_node_a_is_served_by_node_b(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    assert b.hello("/multinode", client_id=b.client_id).status == 404
    import_and_publish(
        cluster.env,
        cluster.work_dir,
        api_document(name="multinode-hello", base_path="/multinode", greeting="hello from A"),
        "sandbox",
    )
    published = time.monotonic()
    answer, elapsed = poll(
        lambda: (r := b.hello("/multinode", client_id=b.client_id)).status == 200 and r,
        since=published,
        within=SWITCH_SECONDS,
        what="node B serves the API published on node A",
    )
    assert answer.text == "hello from A"
    print(f"a publish on A is served by B after {elapsed:.2f}s")
    settle(cluster.env, a, b)
    for _ in range(SAMPLES):
        assert b.hello("/multinode", client_id=b.client_id).text == "hello from A"
        assert a.hello("/multinode", client_id=a.client_id).text == "hello from A"
        assert b.hello("/multinode").status == 401  # the twin: without the client id


def test_credential_resets_on_node_a_are_refused_by_node_b(cluster: Cluster) -> None:
    a, b, env = cluster.a, cluster.b, cluster.env
    client_id = b.client_id
    # An API secured by client id and secret; the Sandbox Test App (subscribed by the publish) gets a secret.
    secret = reset_secret(env)
    import_and_publish(
        env,
        cluster.work_dir,
        api_document(name="multinode-secret", base_path="/multinode-secret", greeting="secret", client_secret=True),
        "sandbox",
    )
    published = time.monotonic()
    poll(
        lambda: b.hello("/multinode-secret", client_id=client_id, secret=secret).status == 200,
        since=published,
        within=SWITCH_SECONDS,
        what="node B serves the API published on node A",
    )
    settle(cluster.env, a, b)
    assert b.hello("/multinode-secret", client_id=client_id, secret=secret).status == 200

    # A secret reset on A: B refuses the old secret and takes the new one.
    new_secret = reset_secret(env)
    reset = time.monotonic()
    _, elapsed = poll(
        lambda: b.hello("/multinode-secret", client_id=client_id, secret=secret).status == 401,
        since=reset,
        within=SWITCH_SECONDS,
        what="node B refuses the client secret reset on node A",
    )
    print(f"a secret reset on A is refused by B after {elapsed:.2f}s")
    settle(cluster.env, a, b)
    for _ in range(SAMPLES):
        assert b.hello("/multinode-secret", client_id=client_id, secret=secret).status == 401
        assert b.hello("/multinode-secret", client_id=client_id, secret=new_secret).status == 200

    # A client id reset on A: B refuses the old id and takes the new one.
    new_client_id = reset_client_id(env)
    assert new_client_id != client_id
    a.client_id = b.client_id = new_client_id  # for the tests after this one
    reset = time.monotonic()
    refused, elapsed = poll(
        lambda: (r := b.generate(client_id)).status == 401 and r,
        since=reset,
        within=SWITCH_SECONDS,
        what="node B refuses the client id reset on node A",
    )
    assert json.loads(refused.body)["moreInformation"] == "Invalid client id or secret."
    print(f"a client id reset on A is refused by B after {elapsed:.2f}s")
    settle(cluster.env, a, b)
    for _ in range(SAMPLES):
        assert b.generate(client_id).status == 401
        assert b.generate(new_client_id).status == 200
        assert b.hello("/multinode-secret", client_id=new_client_id, secret=new_secret).status == 200


def test_a_rotation_on_node_a_changes_the_key_node_b_signs_with(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    old_token = b.token()
    old_kid = kid(old_token)
    [plan] = json.loads(manage(cluster.env, "rotate_keyprofile", "jwt-keyprofile", "--catalog", "sandbox", "--json"))
    rotated = time.monotonic()
    assert (plan["old_version"], plan["new_version"]) == ("1.0.0", "1.0.1")
    new_kid, elapsed = poll(
        lambda: (k := kid(b.token())) != old_kid and k,
        since=rotated,
        within=SWITCH_SECONDS,
        what="node B mints with the key of the rotation made on node A",
    )
    print(f"a rotation on A changes the kid B mints with after {elapsed:.2f}s")
    settle(cluster.env, a, b)
    for _ in range(SAMPLES // 2):
        from_a, from_b = a.token(), b.token()
        assert kid(from_a) == kid(from_b) == new_kid
        assert b.validate(from_a).status == 200
        assert a.validate(from_b).status == 200
        assert b.validate(old_token).status == 200  # the old key verifies during the grace
    assert b.jwks_kids() == a.jwks_kids() == {old_kid, new_kid}
