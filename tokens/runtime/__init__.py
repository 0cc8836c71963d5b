"""The gateway runtime: routing (``routing``), each catalog's warm state (``catalog_state``), its JWKS
(``jwks``), and the per-process cache that follows configuration changes (``state_cache``).

Crypto objects are resolved by ``tokens.catalog_crypto`` (re-exported here for the modules that compile
against a catalog).
"""

from tokens.catalog_crypto import CatalogCryptoResolver
from tokens.runtime.catalog_state import NO_APP, AppEntry, CatalogState, catalog_state_build
from tokens.runtime.routing import Route, RouteTable
from tokens.runtime.state_cache import Gateway, RefreshReport, gateway

__all__ = [
    "NO_APP",
    "AppEntry",
    "CatalogCryptoResolver",
    "CatalogState",
    "Gateway",
    "RefreshReport",
    "Route",
    "RouteTable",
    "catalog_state_build",
    "gateway",
]
