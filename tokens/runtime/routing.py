"""Routing a gateway call to a published API: the routes of one catalog, found by base path in O(depth).

A route is one served publication. ``RouteTable`` holds a catalog's routes in a dict keyed by base path and
finds the route of a request path by looking up the path's own prefixes, longest first, so the cost of a
lookup depends on how deep the path is, never on how many APIs the catalog serves (issue 14). The longest
base path wins when base paths nest (``/a`` and ``/a/b``), and ``/`` serves every path no other base path
claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tokens.assembly import CompiledAssembly
from tokens.documents import Operation


@dataclass(frozen=True)
class Route:
    """One served publication: where it listens, what it asks of callers, and its compiled assembly."""

    publication_id: int
    api: str
    base_path: str
    deprecated: bool
    operations: tuple[tuple[re.Pattern[str], Operation], ...]
    assembly: CompiledAssembly
    client_id_required: bool
    client_secret_required: bool

    def match(self, path: str, verb: str) -> tuple[Operation | None, list[str]]:
        """The operation for a path and verb, and the verbs the path allows (empty: no such path)."""
        allowed: list[str] = []
        for pattern, operation in self.operations:
            if pattern.fullmatch(path):
                if operation.verb == verb:
                    return operation, [operation.verb]
                allowed.append(operation.verb)
        return None, allowed


def path_pattern(template: str) -> re.Pattern[str]:
    """An operation's path template (``/items/{id}``) as a pattern; a parameter matches one segment."""
    parts = re.split(r"(\{[^{}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _depth(base_path: str) -> int:
    return 0 if base_path == "/" else base_path.count("/")


class RouteTable:
    """A catalog's routes by base path. Immutable once built: a change builds a new table (``with_routes``)
    and the gateway swaps it in whole, so a request never sees half a change."""

    __slots__ = ("_by_base_path", "_max_depth")

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._by_base_path: dict[str, Route] = {}
        for route in routes:
            self._by_base_path.setdefault(route.base_path, route)
        self._max_depth = max((_depth(base) for base in self._by_base_path), default=0)

    def __len__(self) -> int:
        return len(self._by_base_path)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_base_path.values())

    def by_publication(self) -> Mapping[int, Route]:
        return {route.publication_id: route for route in self._by_base_path.values()}

    def with_routes(self, *, replaced: Iterable[int], added: Iterable[Route]) -> RouteTable:
        """A new table without the routes of the ``replaced`` publication ids, and with ``added``."""
        dropped = set(replaced)
        kept = (route for route in self._by_base_path.values() if route.publication_id not in dropped)
        return RouteTable([*added, *kept])

    def route_for(self, path: str) -> tuple[Route, str] | None:
        """The route whose base path prefixes ``path`` (segment-wise), and the rest of the path; the longest
        base path wins. ``path`` starts with ``/``."""
        routes = self._by_base_path
        end = len(path)
        depth = path.count("/")
        # Skip the prefixes deeper than any base path: at most max_depth lookups, whatever the table's size.
        while depth > self._max_depth:
            end = path.rfind("/", 0, end)
            depth -= 1
        while end > 0:
            route = routes.get(path[:end])
            if route is not None:
                return route, path[end:] or "/"
            end = path.rfind("/", 0, end)
        root = routes.get("/")
        if root is not None:
            return root, path
        return None
