"""Collections page by ``?limit=`` and ``?offset=`` (DRF settings ``DEFAULT_PAGINATION_CLASS``)."""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """``?limit=`` (default 50, at most 500) and ``?offset=``; answers ``{count, next, previous, results}``."""

    default_limit = 50
    max_limit = 500
