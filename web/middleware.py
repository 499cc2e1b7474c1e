"""The pages' half of the error table: a domain refusal that a view does not handle itself becomes
the page a browser expects (404 for NotFound, 403 for Forbidden), and an outage of Redis or the
database a 503 that says to try again. The API maps the same errors to problem+json in api/."""

from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpResponse

from cogmill import outages
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
        if isinstance(exception, outages.OUTAGES):
            # Plain text: rendering the site's layout would need the very database that is away.
            response = HttpResponse(outages.DETAIL, status=503, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(outages.RETRY_AFTER_SECONDS)
            return response
        return None
