"""The portal's URL conf with the benchmark's reference endpoints in front, under ``/bench/``.

The portal's own patterns are spliced in unchanged (not nested in an ``include``), so a gateway request
resolves exactly as in the product, after one failed ``bench/`` prefix check.
"""

from django.urls import include, path

from bench import reference
from portal.urls import urlpatterns as portal_urlpatterns

reference_patterns = [
    path("pyjwt/sign", reference.pyjwt_sign, name="bench-pyjwt-sign"),
    path("pyjwt/verify", reference.pyjwt_verify, name="bench-pyjwt-verify"),
    path("drf", reference.MinimalView.as_view(), name="bench-drf"),
    path("drf/sign", reference.DrfSignView.as_view(), name="bench-drf-sign"),
    path("drf/verify", reference.DrfVerifyView.as_view(), name="bench-drf-verify"),
]

urlpatterns = [path("bench/", include(reference_patterns)), *portal_urlpatterns]
