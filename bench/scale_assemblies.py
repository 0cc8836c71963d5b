"""The sandbox's catalog build as the gateway's first request makes it, in a process of its own (bench/scale.py):
prints one JSON line with the build's seconds, the number of routes and the number of distinct compiled
assemblies among them (publications share one when their assembly and the property values it reads are
equal: ``tokens.runtime.catalog_state._routes``).
"""

from __future__ import annotations

import json
import time

import django

django.setup()

from portal.models import Catalog  # noqa: E402 - after django.setup()
from tokens.runtime.catalog_state import catalog_state_build  # noqa: E402


def main() -> None:
    catalog = Catalog.objects.select_related("organization").get(organization__slug="personal", slug="sandbox")
    started = time.perf_counter()
    state = catalog_state_build(catalog)
    seconds = time.perf_counter() - started
    routes = list(state.routes)
    # In-scope copies wrap the same policies: one compiled assembly per distinct tuple of policies.
    assemblies = len({id(route.assembly.policies) for route in routes})
    print(json.dumps({"build_seconds": seconds, "routes": len(routes), "assemblies": assemblies}), flush=True)


if __name__ == "__main__":
    main()
