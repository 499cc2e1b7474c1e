"""The pages' half of the error table: a domain refusal that a view does not handle itself becomes
the page a browser expects (404 for NotFound, 403 for Forbidden). The API maps the same errors to
problem+json in api/errors.py."""

from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.http import Http404

from playground.errors import Forbidden, NotFound


class DomainErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound):
            return response_for_exception(request, Http404(str(exception)))
        if isinstance(exception, Forbidden):
            return response_for_exception(request, PermissionDenied(str(exception)))
        return None
