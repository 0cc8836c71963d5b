"""The change-making side of the scale benchmark (bench/scale.py): a process of the portal under test that
makes changes through the portal's own services when asked on its standard input (one JSON command a
line), and answers on its standard output (one JSON line per command).

- ``{"do": "storm", "seconds": S}``: one change a second for S seconds, cycling through an app's secret
  reset, an app's client id reset, a republish, a deprecation and its reinstatement; answers
  ``{"made": [kinds]}``.
- ``{"do": "reset-client-id", "n": N}``: reset the client id of the N-th load app from the end; answers the
  commit time (``time.time()``), the new client id and the base path of an API the app subscribes to.
"""

from __future__ import annotations

import json
import sys
import time

import django

django.setup()

from portal.services import Actor  # noqa: E402 - after django.setup()
from tokens import services  # noqa: E402
from tokens.models import ConsumerApp, Publication  # noqa: E402

ACTOR = Actor(name="bench-scale")
KINDS = ("secret", "client-id", "republish", "deprecate", "reinstate")


def main() -> None:
    apps = list(ConsumerApp.objects.filter(name__startswith="Demo Load App ").order_by("name")[:200])
    served = list(
        Publication.objects.filter(api__name__startswith="demo-load-")
        .select_related("api", "catalog")
        .order_by("-api__name")[:50]
    )
    if not apps or not served:
        sys.exit("seed the load first: seed_demo --apis N --apps M")

    def change(number: int) -> str:
        kind = KINDS[number % len(KINDS)]
        app = apps[number % len(apps)]
        if kind == "secret":
            services.app_reset_secret(app=app, actor=ACTOR)
        elif kind == "client-id":
            services.app_reset_client_id(app=app, actor=ACTOR)
        elif kind == "republish":
            publication = served[number % len(served)]
            services.api_publish(api=publication.api, catalog=publication.catalog, actor=ACTOR)
        else:
            state = Publication.State.DEPRECATED if kind == "deprecate" else Publication.State.PUBLISHED
            services.publication_set_state(publication=served[0], state=state, actor=ACTOR)
        return kind

    print(json.dumps({"ready": True}), flush=True)
    number = 0
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "storm":
            made = []
            end = next_at = time.monotonic()
            end += command["seconds"]
            while time.monotonic() < end:
                made.append(change(number))
                number += 1
                next_at += 1.0
                time.sleep(max(0.0, next_at - time.monotonic()))
            print(json.dumps({"made": made}), flush=True)
        elif command["do"] == "reset-client-id":
            app = apps[-1 - command["n"]]
            client_id = services.app_reset_client_id(app=app, actor=ACTOR)
            committed = time.time()
            subscribed = app.subscriptions.order_by("base_path").first()
            assert subscribed is not None, "load apps are subscribed by seed_demo"
            print(
                json.dumps({"committed": committed, "client_id": client_id, "path": subscribed.base_path}), flush=True
            )
        else:
            break


if __name__ == "__main__":
    main()
