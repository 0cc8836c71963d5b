"""The REST API's shared machinery (DESIGN.md section 4a), and portal's own resources.

How to add a resource
=====================

1. Put the views in your app's ``<app>/api/`` package (``tokens/api/`` may import ``keyprofiles`` and
   ``portal``; never the other way). One view class per URL, one method per operation, each method thin:
   parse with a nested ``InputSerializer`` (shape and types only), call ONE service or selector, answer with
   a nested ``OutputSerializer``. Business rules stay in services.

   .. code-block:: python

       class CatalogListCreateApi(OrganizationApi):
           permission_classes = [OperatorOrReadingAuditor]    # portal.api.permissions
           filterset_class = CatalogFilter                      # django-filter, for collections
           ordering_fields = ["slug", "created_at"]

           class InputSerializer(serializers.Serializer): ...
           class OutputSerializer(serializers.Serializer): ...

           @extend_schema(operation_id="catalog_list", responses=responses({200: OutputSerializer(many=True)}))
           def get(self, request: Request, org: str) -> Response:
               return self.list_response(catalog_list(organization=self.organization), self.OutputSerializer)

           @extend_schema(operation_id="catalog_create", request=InputSerializer,
                          responses=responses({201: OutputSerializer}, 400, 409))
           def post(self, request: Request, org: str) -> Response:
               data = validated(self.InputSerializer, request)
               catalog = catalog_create(organization=self.organization, **data, actor=self.actor)
               return Response(self.OutputSerializer(catalog).data, status=201)

2. Subclass ``portal.api.views.OrganizationApi`` for everything under ``/api/v1/orgs/{org}/`` and parse
   input with ``portal.api.views.validated``. The base gives ``self.organization`` (404 when missing),
   ``self.actor`` (``api-key:<org>/<name>`` or the console user, for the services' audit records) and
   ``self.list_response(queryset, OutputSerializer)`` (filter with ``filterset_class``, order with
   ``ordering_fields``, paginate with ``?limit=&offset=``; set ``collection_model`` when there is no filter set).
   Look objects up inside ``self.organization`` only, and answer 404 (``get_object_or_404`` or
   ``rest_framework.exceptions.NotFound``) for anything outside it.

3. Choose permissions from ``portal.api.permissions`` (the default, ``IsOperator``, is the strictest):
   ``OperatorOrReadingAuditor`` for most resources, ``IsAuditorOrOperator`` for read-only ones,
   ``CanSignWithProfile`` / ``CanUseProfile`` for the token service (they read the profile name from
   ``view.kwargs["name"]`` and, for signers, the request's ``claims`` and ``expires_in``, falling back to the
   view's ``default_expires_in``). A caller with no role in ``{org}`` gets 404, never 403.

4. Errors: raise domain errors (``portal.errors.PortalError`` subclasses: ``code``, ``field``, ``conflict``),
   Django's ``ValidationError`` (unique violations answer 409 ``name_taken``) or DRF's exceptions
   (``portal.api.problems.Conflict`` 409, ``PreconditionFailed`` 412, ``PayloadTooLarge`` 413). Never build an
   error response by hand: ``portal.api.problems.problem_exception_handler`` answers every one as RFC 9457
   ``application/problem+json``.

5. Schema: decorate each method with ``extend_schema`` (``operation_id``, ``request=InputSerializer``,
   ``responses=portal.api.schema.responses({201: OutputSerializer}, 400, 409)``, which adds 401/403/404/429
   problems). Nested serializer names become ``<View without Api><Input|Output>`` components
   (``portal.api.schema.PortalAutoSchema``), so reuse of the names ``InputSerializer``/``OutputSerializer``
   is fine. For another request format set ``parser_classes`` on the view (e.g.
   ``[BoundedJSONParser, BoundedMultiPartParser]`` from ``portal.api.parsers``).

6. Routes: add ``<app>/api/urls.py`` with ``urlpatterns`` relative to ``/api/v1/orgs/{org}/`` and include it
   from ``portal/api/urls.py`` by dotted string (``include("tokens.api.urls")``).

7. Tests: the ``make_key`` fixture (tests/conftest.py) makes a real key of any role, ``tests.api.bearer(key)``
   sends it; use the ``fresh_api_state`` fixture (the key lookup and rate counters outlive a test) and
   ``recheck_at_once`` to see a revocation without waiting. Test each role, the other organization (404),
   and every refusal with its positive twin.

What the machinery does
=======================

- ``authentication``: ``Authorization: Bearer kpp_...`` (first, so a request with no credentials answers 401
  with ``WWW-Authenticate: Bearer``), then console sessions (with CSRF). API keys: ``portal.apikeys``.
- ``permissions``: roles per organization; keys have one organization; console users map "Operators" and
  superusers to ``operator`` and "Auditors" to ``auditor`` in every organization.
- ``throttling``: per caller and role, ``PORTAL_API_RATES``, on the shared cache; 429 with ``Retry-After``.
- ``parsers``: JSON bodies bounded in size (1 MiB, 413) and depth (32, 400).
- ``problems``: the exception handler, and the 404/500 answers under /api/ outside DRF.
- ``schema``, ``views``: OpenAPI 3 at ``/api/v1/schema`` (``?format=yaml``), Swagger UI at ``/api/v1/docs``.
"""
