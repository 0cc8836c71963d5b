"""``{% console_home as home %}``: what the console home (the admin index) shows, for the current user.

A template tag rather than a custom AdminSite so the project keeps Django's default site; the work is the
``tokens.selectors.console_home`` selector.
"""

from __future__ import annotations

from typing import Any

from django import template

from tokens.selectors import console_home
from tokens.viewmodels import ConsoleHome

register = template.Library()


@register.simple_tag(takes_context=True, name="console_home")
def console_home_tag(context: dict[str, Any]) -> ConsoleHome:
    """The home's data, computed once per request (the content and the sidebar both read it)."""
    request = context["request"]
    home: ConsoleHome | None = getattr(request, "_console_home", None)
    if home is None:
        home = console_home(user=request.user)
        request._console_home = home
    return home
