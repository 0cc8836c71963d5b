"""Console forms for APIs, publications and consumer apps. They collect input; services do the work."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.text import slugify

from keyprofiles.models import validate_semver
from keyprofiles.selectors import crypto_object_list
from portal.console import ServiceForm
from portal.models import SANDBOX, Catalog, Organization, slug_validator
from portal.untrusted import MAX_INTEGER_DIGITS, UntrustedTextError, json_loads
from tokens.activity import LEVELS, ActivityLogSettings
from tokens.conditions import ConditionError, condition_compile
from tokens.documents import MAX_DOCUMENT_BYTES
from tokens.editor import VERBS, ApiProperty, NewApi
from tokens.gatewayscript import ScriptSyntaxError, script_compile
from tokens.jose import ALGORITHMS, JWE_ALGORITHMS, JWE_ENCRYPTIONS
from tokens.models import ConsumerApp, Publication, base_path_validator
from tokens.policies import (
    activity_log,
    gatewayscript,
    invoke,
    jwt_generate,
    jwt_validate,
    log,
    operation_switch,
    set_variable,
    switch,
    throw,
)
from tokens.policies.base import PolicyKind
from tokens.policies.registry import addable_kinds
from tokens.properties import document_property_problems


class ApiUploadForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    document = forms.FileField(
        label="OpenAPI document",
        help_text="OpenAPI 2.0 or 3.0 with x-ibm-configuration, YAML or JSON (at most 1 MiB). "
        "An existing version of the same name is updated.",
    )

    def document_bytes(self) -> bytes:
        data: bytes = self.cleaned_data["document"].read(MAX_DOCUMENT_BYTES + 1)
        return data


class PublishForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.none(), empty_label=None)

    def __init__(self, *args: object, organization: Organization, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        catalogs = Catalog.objects.filter(organization=organization)
        self.fields["catalog"].queryset = catalogs  # type: ignore[attr-defined]
        self.fields["catalog"].initial = catalogs.filter(slug=SANDBOX).first()


class ConsumerAppForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.select_related("organization"), empty_label=None)
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    with_secret = forms.BooleanField(
        required=False, label="Generate a client secret", help_text="Shown once after saving; only its hash is kept."
    )


# -- the API editor ---------------------------------------------------------------------------------------

variable_validator = RegexValidator(
    r"^[A-Za-z0-9_.\-]+\Z", "Use a variable name such as request.headers.iss-claim or decoded.claims."
)
operation_path_validator = RegexValidator(
    r"^/[A-Za-z0-9._~{}/-]*\Z", "A path starts with '/' and holds plain path segments, e.g. /generate."
)
error_name_validator = RegexValidator(r"^[A-Za-z][A-Za-z0-9_.-]*\Z", "Use an error name such as RuntimeError.")
TAG_FIELD = "tag"


def pattern_validator(value: str) -> None:
    try:
        re.compile(value)
    except re.error as e:
        raise ValidationError(f"This is not a valid regular expression ({e}).") from e


def optional_choices(values: Collection[str]) -> list[tuple[str, str]]:
    """Select choices for ``values`` after an empty one, Django's "---------"."""
    return [("", "---------"), *((value, value) for value in values)]


def variable_field(label: str, help_text: str, **options: Any) -> forms.CharField:
    """An optional field naming a context variable, such as request.headers.iss-claim or decoded.claims."""
    return forms.CharField(label=label, required=False, validators=[variable_validator], help_text=help_text, **options)


def crypto_object_field(label: str, help_text: str) -> forms.ChoiceField:
    """An optional select of a crypto object; ``_KeyedPolicyForm`` gives it the organization's as choices."""
    return forms.ChoiceField(label=label, required=False, help_text=help_text)


def optional_text_field(label: str, help_text: str, *, max_length: int = 200) -> forms.CharField:
    """An optional free-text field of at most ``max_length`` characters."""
    return forms.CharField(label=label, required=False, max_length=max_length, help_text=help_text)


class DocumentTagForm(ServiceForm):
    """A form that edits an API document: it carries the document's tag, so an edit never lands on a
    document that changed since the page was read."""

    tag = forms.CharField(widget=forms.HiddenInput, required=False)


class ApiCreateForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    title = forms.CharField(max_length=200, help_text='For example "JWT Generation and Validation".')
    name = forms.CharField(
        max_length=50,
        required=False,
        validators=[slug_validator],
        help_text="Lower-case letters, digits and hyphens. Empty: the slug of the title.",
    )
    version = forms.CharField(max_length=32, initial="1.0.0", validators=[validate_semver])
    base_path = forms.CharField(
        max_length=200, label="Base path", validators=[base_path_validator], help_text="For example /securetoken."
    )
    openapi_version = forms.ChoiceField(
        label="OpenAPI version",
        choices=[("2.0", "OpenAPI 2.0"), ("3.0", "OpenAPI 3.0")],
        initial="2.0",
        widget=forms.RadioSelect,
    )
    security = forms.ChoiceField(
        label="Security",
        choices=[("client-id", "Client ID"), ("client-id-secret", "Client ID and secret")],
        initial="client-id",
        widget=forms.RadioSelect,
        help_text="Callers send X-IBM-Client-Id (and X-IBM-Client-Secret) headers.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("name") and cleaned.get("title") and "name" not in self.errors:
            name = slugify(cleaned["title"])[:50].strip("-")
            try:
                slug_validator(name)
            except ValidationError:
                self.add_error("name", "The title gives no usable name; enter one.")
            cleaned["name"] = name
        return cleaned

    def spec(self, operations: list[tuple[str, str]]) -> NewApi:
        data = self.cleaned_data
        return NewApi(
            title=data["title"],
            name=data["name"],
            version=data["version"],
            base_path=data["base_path"],
            openapi_version=data["openapi_version"],
            operations=tuple(operations),
            client_secret=data["security"] == "client-id-secret",
        )


class OperationForm(forms.Form):
    verb = forms.ChoiceField(choices=[(verb, verb.upper()) for verb in VERBS], initial="get")
    path = forms.CharField(max_length=200, required=False, validators=[operation_path_validator])


class BaseOperationFormSet(forms.BaseFormSet):
    def operations(self) -> list[tuple[str, str]]:
        """(verb, path) of every filled row, in order."""
        return [
            (form.cleaned_data["verb"], form.cleaned_data["path"])
            for form in self.forms
            if form.cleaned_data.get("path")
        ]

    def clean(self) -> None:
        if any(self.errors):
            return
        operations = self.operations()
        if not operations:
            raise ValidationError("Add at least one operation: a verb and a path such as GET /generate.")
        if len(set(operations)) != len(operations):
            raise ValidationError("Each verb and path may appear once.")


OperationFormSet = cast(
    type[BaseOperationFormSet],
    forms.formset_factory(OperationForm, formset=BaseOperationFormSet, extra=4, max_num=20, validate_max=True),
)


class PolicyAddForm(DocumentTagForm):
    at = forms.CharField(widget=forms.HiddenInput)
    # No default: a select that starts on a policy type adds one to whoever presses Add without choosing.
    kind = forms.ChoiceField(
        label="Policy type",
        choices=[("", "Choose a policy type…"), *((kind, kind) for kind in addable_kinds())],
        error_messages={"required": "Choose a policy type to add."},
    )


class PolicyMoveForm(DocumentTagForm):
    at = forms.CharField(widget=forms.HiddenInput)
    offset = forms.TypedChoiceField(choices=[("-1", "up"), ("1", "down")], coerce=int)


class PolicyRemoveForm(DocumentTagForm):
    at = forms.CharField(widget=forms.HiddenInput)


class CatchAddForm(DocumentTagForm):
    SUGGESTED = "RuntimeError"

    error = forms.CharField(
        label="Error name",
        max_length=100,
        validators=[error_name_validator],
        help_text="RuntimeError is what the token policies raise.",
    )

    @classmethod
    def for_document(cls, *, tag: str, caught: Collection[str]) -> CatchAddForm:
        """The empty form for an assembly whose catches name ``caught``: it suggests RuntimeError, unless a
        catch for it exists already (adding a second one would be refused)."""
        return cls(initial={"tag": tag, "error": "" if cls.SUGGESTED in caught else cls.SUGGESTED})


class CatchRemoveForm(DocumentTagForm):
    index = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class CaseAddForm(DocumentTagForm):
    """A new case of the switch (its condition) or operation-switch (an operation, "GET /path") at ``at``."""

    at = forms.CharField(widget=forms.HiddenInput)
    condition = forms.CharField(label="Condition", required=False, max_length=2000, strip=True)
    operation = forms.CharField(label="Operation", required=False, max_length=220)

    def clean_condition(self) -> str:
        condition: str = self.cleaned_data["condition"]
        if condition:
            try:
                condition_compile(condition)
            except ConditionError as e:
                raise ValidationError(f"{e} (in {condition!r}).") from e
        return condition

    def clean_operation(self) -> tuple[str, str] | None:
        verb, _, path = self.cleaned_data["operation"].partition(" ")
        if not verb:
            return None
        if verb.lower() not in VERBS or not path.startswith("/"):
            raise ValidationError("Choose one of the API's operations, such as GET /generate.")
        return verb.upper(), path

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not cleaned.get("condition") and not cleaned.get("operation"):
            raise ValidationError("Give the new case a condition (or, in an operation-switch, an operation).")
        return cleaned


class CaseRemoveForm(DocumentTagForm):
    """Remove the case at ``at`` with its policies; ``confirmed`` once the page said how many go."""

    at = forms.CharField(widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)


class BranchAddForm(DocumentTagForm):
    """Give the switch at ``at`` an otherwise."""

    at = forms.CharField(widget=forms.HiddenInput)


# The console form of each policy kind, by kind: filled by PolicyForm subclasses naming their ``policy``.
POLICY_FORMS: dict[str, type[PolicyForm]] = {}


class PolicyForm(DocumentTagForm):
    """A policy's properties under API Connect's labels: each field but ``title`` and ``tag`` sets the property
    of its name with hyphens (``iss_claim`` sets ``iss-claim``).

    A subclass setting ``policy`` (the kind's ``PolicyKind``) is the editor's form for that kind.
    """

    title = forms.CharField(max_length=100, help_text="Publish errors name the policy by its title.")
    policy: PolicyKind | None = None
    with_actions = False  # the page adds the set-variable action rows (ActionFormSet)
    # Boolean properties that are off by default: an unchecked box removes the property from the document
    # instead of writing false into it.
    omitted_when_off: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.policy is not None and "policy" in cls.__dict__:
            POLICY_FORMS[cls.policy.kind] = cls

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    @classmethod
    def property_fields(cls) -> dict[str, str]:
        """Form field name -> the APIC property it sets."""
        return {name: name.replace("_", "-") for name in cls.base_fields if name not in ("title", TAG_FIELD)}

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        initial = {name: config[prop] for name, prop in cls.property_fields().items() if prop in config}
        return {**initial, "title": config.get("title", "")}

    def properties(self) -> dict[str, Any]:
        """The APIC properties the form sets; "" or None removes one."""
        data = self.cleaned_data
        properties = {"title": data["title"], **{prop: data.get(name) for name, prop in self.property_fields().items()}}
        for prop in self.omitted_when_off:
            if not properties.get(prop):
                properties[prop] = None
        return properties

    def field_for(self, prop: str) -> str | None:
        """The form field of an APIC property (a publish error names the property)."""
        if prop == "title":
            return "title"
        return next((name for name, known in self.property_fields().items() if known == prop.split(".")[0]), None)


def crypto_object_choices(organization: Organization, current: str | None) -> list[tuple[str, str]]:
    """The organization's crypto objects as select choices, keeping a configured name that is not enabled."""
    choices = [("", "---------")]
    names = set()
    for crypto_object in crypto_object_list(organization=organization.slug):
        names.add(crypto_object.name)
        choices.append((crypto_object.name, f"{crypto_object.name} ({crypto_object.get_role_display()})"))
    if current and current not in names:
        choices.append((current, f"{current} (not enabled in any catalog)"))
    return choices


class _KeyedPolicyForm(PolicyForm):
    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, organization=organization, **kwargs)
        for name in ("jws_crypto", "jwe_crypto"):
            current = self.data.get(self.add_prefix(name)) if self.is_bound else self.initial.get(name)
            self.fields[name].choices = crypto_object_choices(organization, current)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        crypto, jwk = cleaned.get("jws_crypto"), cleaned.get("jws_jwk")
        # Both may be set: the crypto object wins, as in API Connect.
        if not crypto and not jwk and "jws_jwk" not in self.errors:
            self.add_error("jws_crypto", "Choose a crypto object (or name a variable holding a JWK).")
        return cleaned


class JwtGenerateForm(_KeyedPolicyForm):
    policy = jwt_generate.POLICY
    jwt = variable_field(
        "JSON Web Token",
        "The variable to receive the token. Empty: the token is returned in the Authorization response header as "
        "Bearer <jwt>.",
    )
    iss_claim = variable_field("Issuer Claim", "The variable holding the iss claim, e.g. request.headers.iss-claim.")
    sub_claim = variable_field("Subject Claim", "The variable holding sub.")
    aud_claim = variable_field(
        "Audience Claim", "The variable holding aud (a comma-separated list gives several audiences)."
    )
    exp_claim = forms.IntegerField(
        label="Validity period",
        min_value=1,
        max_value=jwt_generate.MAX_VALIDITY_SECONDS,
        initial=jwt_generate.DEFAULT_VALIDITY_SECONDS,
        help_text="Seconds from issue to expiry (exp = iat + this).",
    )
    jti_claim = forms.BooleanField(label="JTI claim", required=False, help_text="Add a unique jti (a UUID4).")
    private_claims = variable_field(
        "Private claims", "The variable holding a JSON object of extra claims (never registered ones)."
    )
    jws_alg = forms.ChoiceField(
        label="Cryptographic Algorithm",
        choices=[(alg, alg) for alg in ALGORITHMS],
        initial=jwt_generate.PROPERTIES["jws-alg"].new_value,
    )
    jws_crypto = crypto_object_field(
        "Sign Crypto Object", "A private key (…-key) or shared secret enabled in the catalog you publish to."
    )
    jws_jwk = variable_field(
        "Sign JWK variable",
        "Instead of a crypto object: the variable holding a private JWK or a JWK set (its own kid goes into the "
        "header). With a crypto object set too, the crypto object wins, as in API Connect.",
    )
    custom_kid_value_jws = optional_text_field(
        "Custom kid (JWS)", "The kid of the token's header. Empty: the key's own kid, else its RFC 7638 thumbprint."
    )
    jwe_crypto = crypto_object_field(
        "Encrypt Crypto Object",
        "To encrypt the signed token (a nested JWT): the recipient's certificate or a shared secret enabled in the "
        "catalog. Empty, with no JWK variable either: the token is only signed.",
    )
    jwe_jwk = variable_field(
        "Encrypt JWK variable",
        "Instead of a crypto object: the variable holding the recipient's public JWK or a JWK set.",
    )
    jwe_alg = forms.ChoiceField(
        label="Key Management Algorithm",
        required=False,
        choices=optional_choices(JWE_ALGORITHMS),
        help_text="How the content key is encrypted for the recipient (required to encrypt).",
    )
    jwe_enc = forms.ChoiceField(
        label="Encryption Algorithm",
        required=False,
        choices=optional_choices(JWE_ENCRYPTIONS),
        help_text="How the signed token is encrypted (required to encrypt).",
    )
    custom_kid_value_jwe = optional_text_field(
        "Custom kid (JWE)", "The kid of the encrypted token's header. Empty: the recipient key's kid."
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        encrypts = cleaned.get("jwe_crypto") or cleaned.get("jwe_jwk")
        if encrypts:
            for name in ("jwe_alg", "jwe_enc"):
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, "Choose an algorithm to encrypt with.")
        else:
            for name in ("jwe_alg", "jwe_enc", "custom_kid_value_jwe"):
                if cleaned.get(name):
                    self.add_error(name, "Encrypting needs a key: choose an encrypt crypto object or JWK variable.")
        return cleaned


class JwtValidateForm(_KeyedPolicyForm):
    policy = jwt_validate.POLICY
    jwt = variable_field(
        "JSON Web Token",
        "The variable holding the token (a leading 'Bearer ' is stripped). Empty: request.headers.authorization.",
        initial=jwt_validate.POLICY.default("jwt"),
    )
    output_claims = variable_field(
        "Output Claims",
        "The variable that receives the claims. Empty: decoded.claims.",
        initial=jwt_validate.POLICY.default("output-claims"),
    )
    iss_claim = forms.CharField(
        label="Issuer Claim",
        required=False,
        validators=[pattern_validator],
        help_text="A regular expression the whole iss claim must match, e.g. apic.",
    )
    aud_claim = forms.CharField(
        label="Audience Claim",
        required=False,
        validators=[pattern_validator],
        help_text="A regular expression the whole aud claim (or one of its values) must match, e.g. id1.",
    )
    jws_crypto = crypto_object_field(
        "Verify Crypto Object", "A certificate (…-ca-0) or shared secret enabled in the catalog you publish to."
    )
    jws_jwk = variable_field(
        "Verify JWK variable",
        "Instead of a crypto object: the variable holding a public JWK or a JWK set (searched by the token's kid "
        "and alg). With a crypto object set too, the crypto object wins, as in API Connect.",
    )
    jwe_crypto = crypto_object_field(
        "Decrypt Crypto Object",
        "For encrypted tokens (a nested JWT): a private key or shared secret enabled in the catalog. Empty, with no "
        "JWK variable either: the token must be a plain signed one.",
    )
    jwe_jwk = variable_field(
        "Decrypt JWK variable",
        "Instead of a crypto object: the variable holding the private JWK or JWK set to decrypt with.",
    )
    jti_replay_check = forms.BooleanField(
        label="Reject replayed tokens",
        required=False,
        help_text="Beyond API Connect: accept each token (by its iss and jti) once until it expires, across every "
        "process sharing the cache; a token without jti is refused.",
    )
    omitted_when_off = ("jti-replay-check",)


class ThrowForm(PolicyForm):
    policy = throw.POLICY
    name = forms.CharField(
        label="Error name", max_length=100, validators=[error_name_validator], help_text="What a catch matches."
    )
    message = forms.CharField(label="Error message", required=False, help_text="May read variables: $(name).")


class GatewayScriptForm(PolicyForm):
    policy = gatewayscript.POLICY
    source = forms.CharField(
        label="Source",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "cols": 100, "class": "code-area", "spellcheck": "false"}),
        help_text="JavaScript run per request in a sandbox: require('apim') (getvariable, setvariable, output, "
        "error), context, session.output.write and console; nothing else is reachable.",
    )

    def clean_source(self) -> str:
        # Browsers send a textarea's line breaks as CRLF (HTML's form encoding); the document keeps LF.
        source: str = self.cleaned_data["source"].replace("\r\n", "\n")
        try:
            script_compile(source)
        except ScriptSyntaxError as e:
            raise ValidationError(f"This is not valid JavaScript: {e}") from e
        return source


class OperationSwitchForm(PolicyForm):
    policy = operation_switch.POLICY


class InvokeForm(PolicyForm):
    policy = invoke.POLICY
    target_url = forms.CharField(
        label="URL",
        max_length=2000,
        initial=invoke.PROPERTIES["target-url"].new_value,
        help_text="The backend's URL; may read variables and API properties: $(target-url)/orders/"
        "$(request.parameters.id). Only hosts PORTAL_INVOKE_ALLOW lists are reachable.",
    )
    verb = forms.ChoiceField(
        label="HTTP Method",
        choices=[("keep", "Keep (the request's)")] + [(verb, verb) for verb in invoke.VERBS],
        initial=invoke.POLICY.default("verb"),
    )
    timeout = forms.IntegerField(
        label="Timeout",
        min_value=1,
        initial=invoke.POLICY.default("timeout"),
        help_text="Seconds for the whole call, redirects included.",
    )
    tls_profile = optional_text_field(
        "TLS client profile",
        "A key profile enabled in the catalog (name or name:version): its key and certificate for mutual TLS, its "
        "truststore to verify the backend. Empty: the system's certificate authorities.",
        max_length=100,
    )
    output = variable_field(
        "Response object variable",
        "A variable to receive the response (body, headers, status). Empty: the response replaces the message.",
    )

    username = optional_text_field(
        "Username",
        "HTTP Basic credentials for the backend, with the password; may read an API property: $(backend-user).",
    )
    password = optional_text_field(
        "Password",
        "Kept in the API document as written: use $(name) of an API property set per catalog rather than the "
        "password itself.",
    )
    inject_proxy_headers = forms.BooleanField(
        label="Inject proxy headers", required=False, help_text="Send X-Forwarded-For, -Host and -Proto."
    )
    stop_on_error = optional_text_field(
        "Stop on error",
        "Error names, comma-separated. OperationError: a backend status of 400 or more raises it, for a catch to "
        "handle; otherwise the backend's answer is the message whatever its status.",
        max_length=500,
    )
    omitted_when_off = ("inject-proxy-headers",)

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        initial = super().initial_from(config)
        stop = config.get("stop-on-error")
        if isinstance(stop, list):
            initial["stop_on_error"] = ", ".join(str(name) for name in stop)
        return initial

    def clean_stop_on_error(self) -> list[str] | None:
        names = [name.strip() for name in self.cleaned_data["stop_on_error"].split(",") if name.strip()]
        for name in names:
            error_name_validator(name)
        return names or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if bool(cleaned.get("username")) != bool(cleaned.get("password")):
            missing = "password" if cleaned.get("username") else "username"
            self.add_error(missing, "Username and password go together: set both, or neither.")
        return cleaned

    def clean_target_url(self) -> str:
        url: str = self.cleaned_data["target_url"].strip()
        if "$(" not in url and not re.match(r"^https?://", url, re.IGNORECASE):
            raise ValidationError("The URL must start with http:// or https:// (or read a variable: $(target-url)).")
        return url


class SwitchForm(PolicyForm):
    """The conditions of the switch's cases, one per line; the policies each case runs are edited in the
    assembly editor as its branches (the cases themselves travel in a hidden field, checked by the tag)."""

    policy = switch.POLICY
    case = forms.CharField(widget=forms.HiddenInput)
    conditions = forms.CharField(
        label="Conditions",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100, "class": "code-area", "spellcheck": "false"}),
        help_text="One per case, in order; the first that holds runs its case, else otherwise. JSONata as the API "
        "gateway writes it ($httpVerb() = 'GET', request.headers.x-tenant = 'acme') or $(name) with JavaScript "
        "operators.",
    )

    @classmethod
    def property_fields(cls) -> dict[str, str]:
        return {"case": "case"}

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        found = config.get("case")
        cases = found if isinstance(found, list) else []
        conditions = [str(c["condition"]) for c in cases if isinstance(c, dict) and "condition" in c]
        return {"title": config.get("title", ""), "case": json.dumps(cases), "conditions": "\n".join(conditions)}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            cases = json_loads(cleaned.get("case") or "[]")
        except UntrustedTextError as e:
            raise ValidationError(f"The cases could not be read ({e}); reload the page.") from e
        if not isinstance(cases, list):
            raise ValidationError("The cases could not be read; reload the page.")
        lines = [line.strip() for line in (cleaned.get("conditions") or "").splitlines() if line.strip()]
        with_condition = [case for case in cases if isinstance(case, dict) and "otherwise" not in case]
        if len(lines) != len(with_condition):
            self.add_error("conditions", f"Give one condition per case: this switch has {len(with_condition)}.")
            return cleaned
        for number, line in enumerate(lines, start=1):
            try:
                condition_compile(line)
            except ConditionError as e:
                self.add_error("conditions", f"Line {number}: {e}.")
        for case, line in zip(with_condition, lines, strict=True):
            case["condition"] = line
        cleaned["case"] = cases
        return cleaned

    def properties(self) -> dict[str, Any]:
        return {"title": self.cleaned_data["title"], "case": self.cleaned_data["case"]}


class LogForm(PolicyForm):
    policy = log.POLICY
    log_level = forms.ChoiceField(
        label="Log level",
        choices=[("default", "Default (the API's activity-log setting)")] + [(level, level) for level in LEVELS],
        initial=log.POLICY.default("log-level"),
        help_text="What the call's activity record holds: activity, plus the request headers, plus the body.",
    )
    mode = forms.ChoiceField(
        label="Mode",
        choices=[(mode, mode) for mode in log.MODES],
        initial=log.POLICY.default("mode"),
        help_text="gather-only sets the level; send writes the record now (secrets redacted).",
    )


class ActivityLogPolicyForm(PolicyForm):
    policy = activity_log.POLICY
    content = forms.ChoiceField(
        label="Content",
        choices=[(level, level) for level in LEVELS],
        initial=activity_log.PROPERTIES["content"].new_value,
        help_text="What the call's activity record holds when it succeeds.",
    )
    error_content = forms.ChoiceField(
        label="Error content",
        choices=[(level, level) for level in LEVELS],
        initial=activity_log.PROPERTIES["error-content"].new_value,
        help_text="What it holds when the call fails (secrets are always redacted).",
    )


class SetVariableForm(PolicyForm):
    policy = set_variable.POLICY
    with_actions = True


class ActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(verb, verb.title()) for verb in set_variable.VERBS], initial="set")
    variable = forms.CharField(required=False, validators=[variable_validator])
    value = forms.CharField(required=False)
    type = forms.ChoiceField(choices=[(t, t) for t in set_variable.TYPES], initial="any")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("variable") and cleaned.get("action") != "clear" and not cleaned.get("value"):
            self.add_error("value", "Set and add need a value.")
        return cleaned


class BaseActionFormSet(forms.BaseFormSet):
    @staticmethod
    def initial_from(config: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for action in config.get("actions") or []:
            if not isinstance(action, dict):
                continue
            verb = set_variable.action_verb(action)
            if verb is None:
                continue
            value = action.get("value")
            shown = json.dumps(value) if isinstance(value, dict | list | bool) else "" if value is None else str(value)
            rows.append({"action": verb, "variable": action[verb], "value": shown, "type": action.get("type", "any")})
        return rows

    def actions(self) -> list[dict[str, Any]]:
        """The set-variable ``actions`` list, values typed as the document stores them."""
        actions: list[dict[str, Any]] = []
        for form in self.forms:
            data = form.cleaned_data
            if not data.get("variable") or data.get("DELETE"):
                continue
            if data["action"] == "clear":
                actions.append({"clear": data["variable"]})
            else:
                actions.append(
                    {
                        data["action"]: data["variable"],
                        "value": typed_value(data["value"], data["type"]),
                        "type": data["type"],
                    }
                )
        return actions


ActionFormSet = cast(
    type[BaseActionFormSet], forms.formset_factory(ActionForm, formset=BaseActionFormSet, extra=3, can_delete=True)
)


def typed_value(text: str, value_type: str) -> Any:
    """A set-variable value as API Connect stores it: numbers and booleans as such, objects as JSON, and a
    value reading a variable ($(...)) as text, converted when the policy runs."""
    if "$(" in text:
        return text
    if value_type == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        # Text that is no finite number stays text, for publishing to refuse by name like any other.
        if not math.isfinite(number):
            return text
        whole = number.is_integer() and "." not in text and abs(number) < 10.0**MAX_INTEGER_DIGITS
        return int(number) if whole else number
    if value_type == "boolean" and text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if value_type == "object":
        try:
            return json_loads(text)
        except UntrustedTextError:
            return text
    return text


# -- API properties and activity logging ------------------------------------------------------------------


class ActivityLogForm(DocumentTagForm):
    """``x-ibm-configuration.activity-log``: what each call's activity record holds, by outcome."""

    enabled = forms.BooleanField(
        label="Log activity", required=False, initial=True, help_text="Off: no call of this API is recorded."
    )
    success_content = forms.ChoiceField(
        label="Content for success",
        choices=[(level, level) for level in LEVELS],
        initial=ActivityLogSettings().success_content,
        help_text="none, activity (API, operation, status, app), header (and the request's headers, secrets "
        "redacted) or payload (and the request body).",
    )
    error_content = forms.ChoiceField(
        label="Content for errors",
        choices=[(level, level) for level in LEVELS],
        initial=ActivityLogSettings().error_content,
    )

    @classmethod
    def initial_from(cls, settings: ActivityLogSettings) -> dict[str, Any]:
        return {
            "enabled": settings.enabled,
            "success_content": settings.success_content,
            "error_content": settings.error_content,
        }

    def settings(self) -> ActivityLogSettings:
        data = self.cleaned_data
        return ActivityLogSettings(data["enabled"], data["success_content"], data["error_content"])


class PropertyForm(forms.Form):
    name = forms.CharField(label="Name", required=False, max_length=100)
    value = forms.CharField(label="Value", required=False, max_length=2000, strip=False)
    description = forms.CharField(label="Description", required=False, max_length=300)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if name:
            problems = document_property_problems({"x-ibm-configuration": {"properties": {name: {"value": ""}}}})
            if problems:
                raise ValidationError(problems[0])
        return name


class BasePropertyFormSet(forms.BaseFormSet):
    @staticmethod
    def initial_from(properties: list[ApiProperty]) -> list[dict[str, str]]:
        return [{"name": p.name, "value": p.value, "description": p.description} for p in properties]

    def properties(self) -> list[ApiProperty]:
        """The filled rows not marked for removal, in order."""
        return [
            ApiProperty(form.cleaned_data["name"], form.cleaned_data["value"], form.cleaned_data["description"])
            for form in self.forms
            if form.cleaned_data.get("name") and not form.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        if any(self.errors):
            return
        names = [prop.name for prop in self.properties()]
        if len(set(names)) != len(names):
            raise ValidationError("Each property name may appear once.")


PropertyFormSet = cast(
    type[BasePropertyFormSet],
    forms.formset_factory(PropertyForm, formset=BasePropertyFormSet, extra=2, can_delete=True, max_num=200),
)


class PublicationStateForm(ServiceForm):
    state = forms.ChoiceField(choices=Publication.State.choices)


class SubscribeForm(ServiceForm):
    publication = forms.ModelChoiceField(queryset=Publication.objects.none(), label="API")

    def __init__(self, *args: Any, app: ConsumerApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publication"].queryset = (  # type: ignore[attr-defined]
            Publication.objects.filter(catalog=app.catalog)
            .exclude(state=Publication.State.RETIRED)
            .exclude(pk__in=app.subscriptions.values("pk"))
            .select_related("api")
        )


class UnsubscribeForm(ServiceForm):
    publication = forms.ModelChoiceField(queryset=Publication.objects.none())

    def __init__(self, *args: Any, app: ConsumerApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["publication"].queryset = app.subscriptions.all()  # type: ignore[attr-defined]
