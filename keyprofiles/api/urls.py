"""Routes of the key material resources under /api/v1/orgs/{org}/ (included by portal/api/urls.py)."""

from django.urls import path

from keyprofiles.api import crypto_objects, keystores, profiles, truststores

urlpatterns = [
    path("keystores", keystores.KeystoreListCreateApi.as_view(), name="keystores"),
    path("keystores/<str:name>", keystores.KeystoreDetailApi.as_view(), name="keystore"),
    path("truststores", truststores.TruststoreListCreateApi.as_view(), name="truststores"),
    path("truststores/<str:name>", truststores.TruststoreDetailApi.as_view(), name="truststore"),
    path("key-profiles", profiles.KeyProfileListCreateApi.as_view(), name="key-profiles"),
    path("key-profiles/<slug:name>", profiles.KeyProfileDetailApi.as_view(), name="key-profile"),
    path("catalogs/<slug:catalog>/crypto-objects", crypto_objects.CryptoObjectListApi.as_view(), name="crypto-objects"),
    path("expiring-keys", crypto_objects.ExpiringKeyListApi.as_view(), name="expiring-keys"),
]
