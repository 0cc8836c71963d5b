"""The ``gatewayscript`` policy: an API's JavaScript, run in a sandbox (DESIGN.md section 3a).

The engine is QuickJS (the maintained quickjs-ng fork, PyPI ``quickjs-ng``), chosen over V8 (``mini-racer``)
and the archived ``quickjs`` wrapper; README "gatewayscript" has the measured comparison. In short:

- quickjs-ng is released with each upstream quickjs-ng tag (0.17.0.2, October 2026) and ships abi3 wheels for
  CPython 3.10+ on x86_64; ``quickjs`` (PetterS) was archived after 1.19.4 (November 2023).
- Per-call limits are the engine's own: a CPU-time limit checked by QuickJS's interrupt handler, reset at every
  call, a memory limit on the engine's allocator and a stack limit; each fails the call with an exception the
  script cannot catch (the time limit) or that unwinds it, and the next call runs normally.
- A bare QuickJS context has the ECMAScript built-ins and nothing else: no ``require``, ``process``, file,
  network, timers or module loader. mini-racer (V8) has no ``require`` or ``process`` either, but costs about
  a hundred times more CPU per call (a hop to V8's message-loop thread), 180 to 560 ms to start and an 82 MB
  package, and calls Python only asynchronously.
- A bare call costs a few microseconds and a bare context starts in under a millisecond (an engine, bridge
  loaded and frozen, in tens of milliseconds); a policy's call, bridge and JSON included, some 60
  microseconds of CPU (``make bench``).

How it is used:

- **No host function.** The sandbox calls no Python at all (the wrapper even refuses it while a time limit is
  set). A call hands the bridge (``tokens/gatewayscript.js``) the context's variables as one JSON text and gets
  back one JSON text: the variables the script wrote, an error it raised, its console lines. Both are
  size-capped, so only JSON-like values cross, and a script can reach nothing but plain JavaScript values.
- **Checked once, built on first use, bounded.** ``script_compile`` checks a source once per process (cached
  by source, so publishing and the gateway's warm state share it) in a bare QuickJS context (no bridge, no
  lockdown, the same limits): some 0.16 ms, against tens of milliseconds and 0.4 MiB for an engine. The
  runnable engine is built on a thread's first call and kept in that thread's LRU of ``ENGINES_PER_THREAD``
  engines (gunicorn's sync workers have one thread, so per process); an evicted one is built again on its
  next call.
  Before the script is compiled in its engine the bridge freezes every object reachable from the global
  object: no call can leave state behind for the next one (globals, prototype pollution) or replace the
  bridge. ``MAX_SCRIPTS_PER_API`` bounds the policies of one assembly, refused at publish before any check.
- **Limits** come from the ``GATEWAYSCRIPT`` settings (``ScriptLimits``), read once and re-read when tests
  override them. A runaway script fails its own call as a ``JavaScriptError`` naming the policy; that thread's
  engine is discarded (with whatever the call left in it) and the worker keeps serving.
- Promise jobs a script queues run after it, sharing its CPU time limit; ``import()`` finds no module.
- QuickJS's time limit counts the process's CPU time (``clock()``): exact for a sync worker; in a threaded
  worker other threads' CPU counts too, so a script can only be stopped earlier, never later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import quickjs  # noqa: TID251
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from portal.gateway_http import header_value
from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.policies.base import Policy
from tokens.policies.base import Properties as _Properties

logger = logging.getLogger("tokens.gatewayscript")

JAVASCRIPT_ERROR = "JavaScriptError"  # APIC's error name for a failing gatewayscript
MAX_SCRIPTS = 256  # checked scripts kept per process (a republished API checks its new source)
MAX_VARIABLE_NAME = 256
MAX_JOBS = 1000  # promise jobs one call may queue
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_BRIDGE = Path(__file__).with_name("gatewayscript.js").read_text(encoding="utf-8")

DEFAULTS: dict[str, int] = {
    "CPU_MS": 50,  # CPU time per call
    "MEMORY_MIB": 32,  # the engine's heap, per script and thread
    "STACK_KIB": 256,  # recursion depth, in bytes of native stack
    "EXCHANGE_KIB": 2048,  # the variables handed to a call, and what it answers, each as JSON
    "LOG_LINES": 20,  # console lines kept per call (the rest are counted)
    "LOG_LINE_CHARS": 1000,
    "MAX_SCRIPTS_PER_API": 32,  # gatewayscript policies in one assembly, at any depth, catches included
    # Engines a thread keeps (about 0.4 MiB each), the least recently used evicted: at least twice the scripts of
    # one API, or an API of the most scripts allowed called in turn with any other would rebuild them all.
    "ENGINES_PER_THREAD": 128,
}
_BOUNDS: dict[str, tuple[int, int]] = {
    "CPU_MS": (1, 10_000),
    "MEMORY_MIB": (4, 1024),
    "STACK_KIB": (64, 4096),
    "EXCHANGE_KIB": (64, 65536),
    "LOG_LINES": (0, 1000),
    "LOG_LINE_CHARS": (16, 100_000),
    "MAX_SCRIPTS_PER_API": (1, 4096),
    "ENGINES_PER_THREAD": (1, 4096),
}


@dataclass(frozen=True)
class ScriptLimits:
    """The per-call limits of every gatewayscript, from the ``GATEWAYSCRIPT`` settings namespace."""

    cpu_ms: int
    memory_mib: int
    stack_kib: int
    exchange_kib: int
    log_lines: int
    log_line_chars: int

    @property
    def exchange_bytes(self) -> int:
        return self.exchange_kib * 1024


@dataclass(frozen=True)
class ScriptBounds:
    """What the gatewayscripts of a process may hold, from the ``GATEWAYSCRIPT`` settings namespace."""

    max_scripts_per_api: int
    engines_per_thread: int


@cache
def _checked_settings() -> dict[str, int]:
    configured: dict[str, Any] = getattr(settings, "GATEWAYSCRIPT", {})
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(f"Unknown GATEWAYSCRIPT settings: {', '.join(unknown)}.")
    values = {**DEFAULTS, **configured}
    for name, (low, high) in _BOUNDS.items():
        value = values[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ImproperlyConfigured(
                f"GATEWAYSCRIPT {name} must be a whole number from {low} to {high}, not {value!r}."
            )
    return values


@cache
def script_limits() -> ScriptLimits:
    """The per-call limits from the checked ``GATEWAYSCRIPT`` settings. Raises ImproperlyConfigured naming an
    unknown or out-of-range setting (a typo must not silently fall back to a default)."""
    values = _checked_settings()
    return ScriptLimits(**{name: values[name.upper()] for name in ScriptLimits.__dataclass_fields__})


@cache
def script_bounds() -> ScriptBounds:
    """The bounds on scripts per API and engines per thread, from the checked ``GATEWAYSCRIPT`` settings.
    Raises ImproperlyConfigured as ``script_limits`` does."""
    values = _checked_settings()
    if values["ENGINES_PER_THREAD"] < 2 * values["MAX_SCRIPTS_PER_API"]:
        raise ImproperlyConfigured(
            f"GATEWAYSCRIPT ENGINES_PER_THREAD ({values['ENGINES_PER_THREAD']}) must be at least twice "
            f"MAX_SCRIPTS_PER_API ({values['MAX_SCRIPTS_PER_API']}): a thread that serves an API of the most "
            "scripts allowed beside another would otherwise rebuild every engine on every call."
        )
    return ScriptBounds(**{name: values[name.upper()] for name in ScriptBounds.__dataclass_fields__})


class ScriptSyntaxError(Exception):
    """The source is not valid JavaScript; the message is the engine's, first line only."""


_counter_lock = threading.Lock()
_compiles = 0
_checks = 0


def compile_count() -> int:
    """How many engines this process has built, each compiling its script: one per script on each thread's
    first call, again after an eviction or a stopped call (and at a check that needs the real engine). Tests
    prove reuse with it."""
    return _compiles


def check_count() -> int:
    """How many sources this process has checked (once per source while the process cache keeps it)."""
    return _checks


class _Engine:
    """One QuickJS context holding the bridge and one compiled script. Used by one thread only (QuickJS
    contexts are not thread-safe)."""

    def __init__(self, source: str, limits: ScriptLimits) -> None:
        global _compiles
        self.limits = limits
        self.context = quickjs.Context()
        self.context.set_memory_limit(limits.memory_mib * 1024 * 1024)
        self.context.set_max_stack_size(limits.stack_kib * 1024)
        self.context.eval(_BRIDGE)
        compile_function = self.context.eval("__portal.compile")
        self.start = self.context.eval("__portal.start")
        self.finish = self.context.eval("__portal.finish")
        self.context.eval("__portal.lockdown()")
        # Limited from here on. Compiling runs none of the script, except where a source closes its function
        # body early (QuickJS's Function constructor pastes the text): that code runs here, locked down and
        # limited like any call, which is all it could have done as the script.
        self.context.set_time_limit(limits.cpu_ms / 1000)
        try:
            compile_function(source)
        except quickjs.JSException as e:
            raise ScriptSyntaxError(_first_line(e)) from e
        finally:
            self.context.gc()
        with _counter_lock:
            _compiles += 1

    def run(self, handed: str) -> str:
        """Run the script on the variables ``handed`` (JSON) and the promise jobs it queues; returns the
        outcome as JSON. Raises quickjs.JSException when a limit stops it, TimeoutError when its jobs together
        pass the CPU time limit (each job alone has the engine's)."""
        limits = self.limits
        started = time.process_time()
        self.start(handed, limits.log_lines, limits.log_line_chars)
        jobs = 0
        while self.context.execute_pending_job():
            jobs += 1
            if jobs >= MAX_JOBS or time.process_time() - started > limits.cpu_ms / 1000:
                raise TimeoutError
        answer: str = self.finish()
        return answer


# The text QuickJS's Function constructor gives the function it makes of the bridge's names and a source
# (the bridge's ``compile``): the text it pastes the source into, without the surrounding parentheses.
_FUNCTION_TEXT = ("function anonymous(require,context,session,console\n) {\n", "\n}")
# The heap an engine's bridge and its freeze hold before the script is compiled (some 0.2 MiB): the check
# leaves it out of its own limit, so a source it accepts near the memory limit fits the engine too.
_BRIDGE_RESERVE = 1024 * 1024
_CHECKER = """(function () {
  var make = Function, apply = Reflect.apply, toText = Function.prototype.toString;
  return function (source, before, after) {
    var made = make("require", "context", "session", "console", source);
    return typeof made === "function" && apply(toText, made, []) === before + source + after;
  };
})()"""


def _syntax_check(source: str, limits: ScriptLimits) -> None:
    """Check ``source`` as the engine compiles it, without building one. Raises ScriptSyntaxError with the
    engine's message when the engine would refuse it.

    A bare context (no bridge, no lockdown, the engine's limits less the bridge's heap) makes the function
    the bridge makes. When the function's text is the whole pasted text, the source is one function body:
    parsing it ran nothing, and the engine's parser accepts it alike. Otherwise the source has a syntax
    error, closes the body early (code of it ran here, where the bridge and the lockdown are missing) or
    passed a limit: the real engine decides (built and dropped), so the check refuses exactly what the engine
    refuses, with its message.
    """
    global _checks
    with _counter_lock:
        _checks += 1
    context = quickjs.Context()
    context.set_memory_limit(limits.memory_mib * 1024 * 1024 - _BRIDGE_RESERVE)
    context.set_max_stack_size(limits.stack_kib * 1024)
    check = context.eval(_CHECKER)
    context.set_time_limit(limits.cpu_ms / 1000)
    try:
        if check(source, *_FUNCTION_TEXT) is True:
            return
    except quickjs.JSException:
        pass
    _Engine(source, limits)


_threads = threading.local()  # .engines: this thread's engines, least recently used first


def _thread_engines() -> OrderedDict[CompiledScript, _Engine]:
    engines: OrderedDict[CompiledScript, _Engine] | None = getattr(_threads, "engines", None)
    if engines is None:
        engines = _threads.engines = OrderedDict()
    return engines


class CompiledScript:
    """A script checked for this process; its engines are built on each thread's first call and kept in that
    thread's LRU (``ENGINES_PER_THREAD``). Raises ScriptSyntaxError when the source is not valid JavaScript."""

    def __init__(self, source: str, limits: ScriptLimits) -> None:
        _syntax_check(source, limits)
        self.source = source
        self.limits = limits

    def engine(self) -> _Engine:
        """This thread's engine for the script, built now when it has none (first call, evicted, discarded).
        Raises ScriptSyntaxError when building it fails, which a source the check accepted should not do (the
        check keeps the bridge's heap in reserve)."""
        engines = _thread_engines()
        engine = engines.get(self)
        if engine is not None:
            engines.move_to_end(self)
            return engine
        engine = engines[self] = _Engine(self.source, self.limits)
        keep = script_bounds().engines_per_thread
        while len(engines) > keep:
            engines.popitem(last=False)
        return engine

    def discard_engine(self) -> None:
        """Drop this thread's engine after a stopped call: whatever that call left (queued jobs, a heap at its
        limit) goes with it, and the next call compiles afresh."""
        _thread_engines().pop(self, None)


_scripts: OrderedDict[tuple[str, ScriptLimits], CompiledScript] = OrderedDict()
_scripts_lock = threading.Lock()


def script_compile(source: str) -> CompiledScript:
    """The checked script for ``source``, from the process's cache or checked now (its engines are built on
    first use). Raises ScriptSyntaxError when the source is not valid JavaScript."""
    key = (source, script_limits())
    with _scripts_lock:
        found = _scripts.get(key)
        if found is not None:
            _scripts.move_to_end(key)
            return found
    compiled = CompiledScript(source, key[1])
    with _scripts_lock:
        _scripts[key] = compiled
        while len(_scripts) > MAX_SCRIPTS:
            _scripts.popitem(last=False)
    return compiled


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "GATEWAYSCRIPT":
        _checked_settings.cache_clear()
        script_limits.cache_clear()
        script_bounds.cache_clear()
        with _scripts_lock:
            _scripts.clear()
        # This thread's engines go too; another thread's are keyed by the scripts just dropped, and age out.
        _thread_engines().clear()


setting_changed.connect(_reload)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _jsonable(value: Any) -> Any:
    # Request bodies are bytes; a script sees them as text (invalid UTF-8 replaced), as APIC's readAsBuffer
    # would show them decoded. Anything else that is not JSON-like (Python objects such as api.operation) is
    # not a variable a script can read.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError


def _snapshot(context: Context) -> dict[str, Any]:
    variables = {
        name: value
        for name, value in context.variables.items()
        if isinstance(value, str | int | float | bool | dict | list | bytes) or value is None
    }
    # The variables computed from the request on demand (tokens.context) cross as plain values too, so a
    # script reads request.uri and api.operation.* as it reads any variable; request.parameters.<name> is
    # looked up by the bridge in the path and query parameters ("query"), then the headers.
    for name in _COMPUTED:
        if name not in variables:
            variables[name] = context.get(name)
    path = context.path_parameters()
    return {
        "variables": variables,
        "requestHeaders": context.request_headers.as_dict(),
        "messageHeaders": {original: value for original, value in context.message_headers.values()},
        "query": {**dict(context.request_query.items()), **path},
    }


_COMPUTED = ("request.uri", "api.operation.id", "api.operation.path")


class GatewayScript(Policy):
    """Runs its ``source`` against the context; see the module docstring for the sandbox."""

    kind = "gatewayscript"

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, {"source"})
        source = props.string("source")
        if source is None or not source.strip():
            props.fail("source", "is required: the JavaScript to run")
        try:
            self.script = script_compile(source)
        except ScriptSyntaxError as e:
            props.fail("source", f"is not valid JavaScript ({e})")

    def _failure(self, problem: str) -> AssemblyError:
        return AssemblyError(
            JAVASCRIPT_ERROR,
            f"gatewayscript policy '{self.title}' {problem}",
            status=500,
            reason="Internal Server Error",
        )

    def run(self, context: Context) -> None:
        """Run the script. Raises AssemblyError: ``JavaScriptError`` when the script fails or passes a limit,
        or the error the script raised with ``apim.error`` or ``context.reject``."""
        limits = self.script.limits
        try:
            engine = self.script.engine()
        except ScriptSyntaxError as e:
            raise self._failure(f"cannot be compiled ({e}).") from e
        try:
            handed = json.dumps(_snapshot(context), separators=(",", ":"), allow_nan=False, default=_jsonable)
        except (TypeError, ValueError) as e:
            raise self._failure(f"cannot be given the context's variables as JSON ({e}).") from e
        if len(handed) > limits.exchange_bytes:
            raise self._failure(f"cannot run: the context's variables exceed {limits.exchange_kib} KiB as JSON.")
        try:
            answer = engine.run(handed)
        except quickjs.JSException as e:
            self.script.discard_engine()
            raise self._failure(self._limit_problem(_first_line(e))) from e
        except TimeoutError as e:
            self.script.discard_engine()
            raise self._failure(self._limit_problem("interrupted")) from e
        if len(answer) > limits.exchange_bytes:
            raise self._failure(f"wrote more than {limits.exchange_kib} KiB of variables, output and log.")
        outcome = json.loads(answer)
        self._log(outcome)
        for action, name, value in outcome["writes"]:
            self._apply(context, str(action), name, value)
        thrown = outcome.get("thrown")
        if thrown is not None:
            problem = self._limit_problem(str(thrown))
            if not problem.startswith("failed"):  # a limit the script's own frames caught, then unwound
                self.script.discard_engine()
            raise self._failure(problem)
        error = outcome.get("error")
        if error is not None:
            status = error.get("status")
            status = int(status) if isinstance(status, int | float) and 100 <= status <= 599 else 500
            message = str(error.get("message") or f"gatewayscript policy '{self.title}' raised {error['name']}.")
            raise AssemblyError(str(error["name"]), message, status=status, reason=str(error.get("reason") or ""))

    def _limit_problem(self, text: str) -> str:
        limits = self.script.limits
        if text.endswith("interrupted"):
            return f"ran longer than its CPU time limit of {limits.cpu_ms} ms."
        if text.endswith("out of memory"):
            return f"needed more than its memory limit of {limits.memory_mib} MiB."
        if text.endswith(("stack overflow", "Maximum call stack size exceeded")):
            return "recursed deeper than its stack limit."
        return f"failed: {text}"

    def _apply(self, context: Context, action: str, name: Any, value: Any) -> None:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_VARIABLE_NAME:
            raise self._failure(f"set a variable whose name is not 1 to {MAX_VARIABLE_NAME} characters.")
        if name == "message.headers" and action != "add":
            context.message_headers.clear()
            for header, text in (value if isinstance(value, dict) else {}).items():
                context.set(f"message.headers.{header}", text)
        elif name == "message" and isinstance(value, dict):
            for part, variable in (("body", "message.body"), ("headers", "message.headers")):
                if part in value:
                    self._apply(context, "set", variable, value[part])
            status = value.get("status")
            if isinstance(status, dict):
                context.set("message.status.code", status.get("code"))
                context.set("message.status.reason", status.get("reason"))
        elif action == "clear":
            context.clear(name)
        elif action == "add":
            context.add(name, value)
        else:
            context.set(name, value)

    def _log(self, outcome: dict[str, Any]) -> None:
        for level, line in outcome.get("logs", []):
            logger.log(
                _LOG_LEVELS.get(str(level), logging.INFO),
                "gatewayscript policy '%s' console: %s",
                self.title,
                header_value(str(line)),
            )
        dropped = outcome.get("droppedLogs", 0)
        if dropped:
            logger.warning(
                "gatewayscript policy '%s': %s console lines over the limit of %s were dropped",
                self.title,
                dropped,
                self.script.limits.log_lines,
            )
