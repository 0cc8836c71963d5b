"""What gatewayscripts may cost (QA finding 8): the scripts one API holds, refused at publish before any is
checked (``MAX_SCRIPTS_PER_API``); a cheap check at compile, the engine built on a thread's first call; the
engines each thread keeps (``ENGINES_PER_THREAD``), the least recently used evicted and built again."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document, make_context
from tokens.errors import PolicyConfigError, PublishError
from tokens.gatewayscript import GatewayScript, check_count, compile_count, script_bounds
from tokens.services import api_publish, api_save


def script(title: str, source: str) -> dict[str, Any]:
    return {"gatewayscript": {"version": "2.0.0", "title": title, "source": source}}


def save_and_publish(sandbox: Catalog, actor: Actor, **assembly: Any) -> None:
    document = api_document(name="scripted", base_path="/scripted", **assembly)
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)


def scripts(count: int, tag: str) -> list[dict[str, Any]]:
    # Sources of their own: the process's cache shares checked scripts by source.
    return [script(f"step {n}", f"session.output.write('{tag} {n}');") for n in range(count)]


# -- scripts per API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "refused"), [(33, True), (32, False)])
def test_an_api_over_the_default_limit_of_scripts_is_refused_before_any_is_checked(
    count: int, refused: bool, sandbox: Catalog, actor: Actor
) -> None:
    checks = check_count()

    if refused:
        with pytest.raises(PublishError, match=r"holds 33 gatewayscript policies; an API may hold at most 32 \(the "):
            save_and_publish(sandbox, actor, execute=scripts(count, "default"))
        assert check_count() == checks
    else:
        save_and_publish(sandbox, actor, execute=scripts(count, "default"))
        assert check_count() == checks + 32


def _everywhere(tag: str) -> dict[str, Any]:
    """One script at the top, in a switch's case and otherwise, and in a catch: four at every depth."""
    switch = {
        "operation-switch": {
            "title": "route",
            "case": [{"operations": [{"verb": "get", "path": "/go"}], "execute": scripts(1, f"{tag} case")}],
            "otherwise": scripts(1, f"{tag} otherwise"),
        }
    }
    return {"execute": [*scripts(1, tag), switch], "catch": [{"default": scripts(1, f"{tag} caught")}]}


@pytest.mark.parametrize(("limit", "refused"), [(3, True), (4, False)])
def test_the_limit_counts_scripts_at_every_depth_and_in_catches(
    limit: int, refused: bool, sandbox: Catalog, actor: Actor, settings: LazySettings
) -> None:
    settings.GATEWAYSCRIPT = {"MAX_SCRIPTS_PER_API": limit}

    if refused:
        message = "holds 4 gatewayscript policies; an API may hold at most 3 (the GATEWAYSCRIPT setting "
        message += "MAX_SCRIPTS_PER_API)."
        with pytest.raises(PublishError, match=re.escape(message)):
            save_and_publish(sandbox, actor, **_everywhere("depth"))
    else:
        save_and_publish(sandbox, actor, **_everywhere("depth"))


# -- checked at compile, built on first use -----------------------------------------------------------------


def test_publishing_checks_a_script_and_the_first_call_builds_its_engine(sandbox: Catalog, actor: Actor) -> None:
    source = "session.output.write('built on first use');"
    before = compile_count()

    policy = GatewayScript("lazy", {"source": source})
    checked = compile_count()
    policy.run(context := make_context())

    assert (checked, compile_count()) == (before, before + 1)
    assert context.get("message.body") == "built on first use"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("var = ;", "SyntaxError: variable name expected"),
        ("session.output.write('unclosed", "SyntaxError: unexpected end of string"),
        ("}", "SyntaxError"),
        ("}); Object.defineProperty(Object.prototype, 'x', {value: 1}); (function () {", "TypeError"),
        ("}); process.exit(); (function () {", "ReferenceError: process is not defined"),
    ],
)
def test_a_source_the_engine_refuses_is_refused_at_publish(
    source: str, problem: str, sandbox: Catalog, actor: Actor
) -> None:
    # The last two close the function body early: their code runs at compile, so the real engine (locked
    # down: Object.prototype frozen) decides, not the bare check (where defining the property succeeds).
    with pytest.raises(PolicyConfigError, match=rf"gatewayscript policy 'bad', property 'source': .*{problem}"):
        save_and_publish(sandbox, actor, execute=[script("bad", source)])
    save_and_publish(sandbox, actor, execute=[script("bad", "var fine = 1;")])


@pytest.mark.parametrize(("items", "refused"), [(60_000, True), (20_000, False)])
def test_a_source_near_the_memory_limit_is_judged_as_the_engine_judges_it(
    items: int, refused: bool, settings: LazySettings
) -> None:
    # Compiling a large literal takes heap: at 4 MiB the engine, which holds the bridge too, runs out first.
    settings.GATEWAYSCRIPT = {"MEMORY_MIB": 4}
    source = f"session.output.write([{','.join(map(str, range(items)))}].length);"

    if refused:
        with pytest.raises(PolicyConfigError, match="is not valid JavaScript \\(InternalError: out of memory\\)"):
            GatewayScript("large", {"source": source})
    else:
        GatewayScript("large", {"source": source}).run(context := make_context())
        assert context.get("message.body") == items


# -- engines per thread -------------------------------------------------------------------------------------


def test_a_thread_keeps_its_most_recent_engines_and_builds_an_evicted_one_again(settings: LazySettings) -> None:
    settings.GATEWAYSCRIPT = {"ENGINES_PER_THREAD": 2, "MAX_SCRIPTS_PER_API": 1}
    first, second, third = (GatewayScript(name, {"source": f"session.output.write('{name}')"}) for name in "abc")
    before = compile_count()

    for policy in (first, second, third):  # the third evicts the first
        policy.run(make_context())
    built = compile_count()
    third.run(make_context())  # kept: no engine built
    kept = compile_count()
    first.run(again := make_context())  # evicted: built again (and evicts the second)

    assert (built, kept, compile_count()) == (before + 3, before + 3, before + 4)
    assert again.get("message.body") == "a"


def test_eviction_in_one_thread_leaves_another_thread_its_engines(settings: LazySettings) -> None:
    settings.GATEWAYSCRIPT = {"ENGINES_PER_THREAD": 2, "MAX_SCRIPTS_PER_API": 1}
    kept = GatewayScript("kept", {"source": "session.output.write('kept')"})
    others = [GatewayScript(name, {"source": f"session.output.write('{name}')"}) for name in ("one", "two")]
    kept.run(make_context())
    before = compile_count()

    def in_the_worker() -> None:  # kept is evicted there by the two others, then built again
        for policy in (kept, *others, kept):
            policy.run(make_context())

    worker = threading.Thread(target=in_the_worker)
    worker.start()
    worker.join()
    kept.run(here := make_context())

    assert (compile_count(), here.get("message.body")) == (before + 4, "kept")  # the worker's four, none here


# -- settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "other"), [("MAX_SCRIPTS_PER_API", {"ENGINES_PER_THREAD": 4096}), ("ENGINES_PER_THREAD", {})]
)
@pytest.mark.parametrize(("value", "accepted"), [(2, True), (2048, True), (0, False), (4097, False), (True, False)])
def test_the_bounds_settings_are_checked(
    name: str, other: dict[str, int], value: Any, accepted: bool, settings: LazySettings
) -> None:
    settings.GATEWAYSCRIPT = {"MAX_SCRIPTS_PER_API": 1, **other, name: value}

    if accepted:
        assert getattr(script_bounds(), name.lower()) == value
    else:
        with pytest.raises(ImproperlyConfigured, match=f"GATEWAYSCRIPT {name} must be a whole number from 1 to 4096"):
            script_bounds()


@pytest.mark.parametrize(("engines", "accepted"), [(7, False), (8, True)])
def test_a_thread_keeps_at_least_twice_the_engines_of_the_largest_api(
    engines: int, accepted: bool, settings: LazySettings
) -> None:
    """An API of the most scripts allowed, called in turn with another, would otherwise rebuild every engine."""
    settings.GATEWAYSCRIPT = {"MAX_SCRIPTS_PER_API": 4, "ENGINES_PER_THREAD": engines}

    if accepted:
        assert script_bounds().engines_per_thread == engines
    else:
        with pytest.raises(ImproperlyConfigured, match="must be at least twice MAX_SCRIPTS_PER_API"):
            script_bounds()


def test_the_bounds_default_to_32_scripts_and_128_engines() -> None:
    assert (script_bounds().max_scripts_per_api, script_bounds().engines_per_thread) == (32, 128)
