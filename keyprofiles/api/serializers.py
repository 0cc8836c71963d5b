"""Output shapes shared by the key material resources: public facts only, never private material."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyprofiles.models import CertificateFacts


class CertificateFactsSerializer(serializers.Serializer):
    """The public facts of a certificate (keystore or truststore)."""

    subject = serializers.CharField()
    issuer = serializers.CharField()
    serial_number = serializers.CharField()
    fingerprint_sha256 = serializers.CharField()
    key_type = serializers.CharField(help_text="RSA, EC, or oct for a shared secret.")
    key_size = serializers.IntegerField()
    not_before = serializers.DateTimeField(allow_null=True)
    not_after = serializers.DateTimeField(allow_null=True)
    days_to_expiry = serializers.SerializerMethodField()

    def get_days_to_expiry(self, obj: CertificateFacts) -> int | None:
        return obj.days_to_expiry()


class PublicJwkSerializer(serializers.Serializer):
    """A public JWK (RFC 7517) with its RFC 7638 thumbprint as ``kid``."""

    kty = serializers.CharField()
    kid = serializers.CharField()
    n = serializers.CharField(required=False)
    e = serializers.CharField(required=False)
    crv = serializers.CharField(required=False)
    x = serializers.CharField(required=False)
    y = serializers.CharField(required=False)

    def to_representation(self, instance: Any) -> Any:
        return dict(instance)
