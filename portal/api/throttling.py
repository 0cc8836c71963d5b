"""Rate limits per API key (or console user), per role, held in the shared cache so they hold across processes.

Rates come from ``PORTAL_API_RATES`` (``operator=600/min,auditor=600/min,signer=6000/min``; a rate of
``none`` means unlimited). The count is a fixed window per caller, kept with the cache's atomic ``incr``
(``add`` only when a window opens, so one cache operation per request; DRF's ``SimpleRateThrottle`` history
list is read and rewritten whole on each request and races between processes). A window admits at most the rate, so two
adjacent windows may admit up to twice the rate over one period around their boundary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from portal.api.permissions import Role, user_role
from portal.apikeys import ApiKeyPrincipal

if TYPE_CHECKING:  # rest_framework.views imports the API settings, which import this module
    from rest_framework.views import APIView

DEFAULT_RATES = "operator=600/min,auditor=600/min,signer=6000/min"
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int


def parse_rates(text: str) -> dict[Role, Rate | None]:
    """``role=N/period,...`` to a rate per role (None: unlimited). Raises ImproperlyConfigured naming the fault."""
    rates: dict[Role, Rate | None] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role_name, _, rate = part.partition("=")
        try:
            role = Role(role_name.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"PORTAL_API_RATES: unknown role {role_name.strip()!r} (use {', '.join(Role)})."
            ) from None
        rate = rate.strip().lower()
        if rate == "none":
            rates[role] = None
            continue
        count, _, period = rate.partition("/")
        if not count.isdigit() or int(count) < 1 or period not in _PERIODS:
            raise ImproperlyConfigured(
                f"PORTAL_API_RATES: {part!r} is not ROLE=N/PERIOD (period s, min, h or d) or ROLE=none."
            )
        rates[role] = Rate(int(count), _PERIODS[period])
    return rates


_parsed: tuple[str, dict[Role, Rate | None]] | None = None


def configured_rates() -> dict[Role, Rate | None]:
    """The rates in force: the defaults, overridden role by role by ``PORTAL_API_RATES``."""
    global _parsed
    text: str = getattr(settings, "PORTAL_API_RATES", "") or ""
    if _parsed is None or _parsed[0] != text:
        _parsed = (text, {**parse_rates(DEFAULT_RATES), **parse_rates(text)})
    return _parsed[1]


class RoleRateThrottle(BaseThrottle):
    """Counts requests per caller (API key, or console user) against its role's rate; 429 with Retry-After."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            caller, role = f"key:{user.key_id}", Role(user.role)
        elif user is not None and user.is_authenticated:
            found = user_role(user)
            if found is None:
                return True  # refused by the permissions anyway
            caller, role = f"user:{user.pk}", found
        else:
            return True
        rate = configured_rates().get(role)
        if rate is None:
            return True
        now = time.time()
        window = int(now // rate.seconds)
        key = f"portal:api-rate:{caller}:{rate.seconds}:{window}"
        count = _count(key, timeout=rate.seconds + 1)
        if count <= rate.requests:
            return True
        self._wait = (window + 1) * rate.seconds - now
        return False

    def wait(self) -> float | None:
        return self._wait


def _count(key: str, *, timeout: int) -> int:
    """Add one to the window's counter ``key`` and return it: one ``incr`` once the window is open (every
    request but a window's first), ``add`` only when the counter is missing. Another process opening the
    same window at the same moment makes ``add`` fail; the ``incr`` after it then counts on its counter."""
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet: this request opens the window
        pass
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # added and expired at once (a clock jump): count this request alone
        return 1
