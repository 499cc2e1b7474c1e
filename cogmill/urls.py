from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.urls import include, path
from django.views import defaults

from api.api import api
from api.problems import is_api_path, problem_for
from cogmill.files import file_content
from cogmill.health import healthz
from web.views import spend

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # The staff's billing view sits inside /admin/ (before the admin's own catch-all).
    path("admin/billing/", spend.admin_billing, name="admin-billing"),
    path("admin/billing/ledger.csv", spend.admin_billing_csv, name="admin-billing-csv"),
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
    path("output/<str:file_id>/<str:name>", file_content, name="file-content"),
    path("", include("web.urls")),
]

API_DETAILS = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    500: "Something went wrong on our side; it has been logged.",
}


def _api_problem(request, status: int, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return problem_for(413, "The request body is larger than this server accepts.")
    if status == 404:
        return problem_for(404, f"There is no {request.path} in this API; the reference is at /v1/docs.")
    return problem_for(status, API_DETAILS[status])


def _json_or_html(status: int, default):
    """Django's error views, answering problem+json under /v1/ (API.md: errors)."""
    def handler(request, exception=None, **kwargs):
        if is_api_path(request.path):
            return _api_problem(request, status, exception)
        return default(request, exception) if status != 500 else default(request)
    return handler


handler400 = _json_or_html(400, defaults.bad_request)
handler403 = _json_or_html(403, defaults.permission_denied)
handler404 = _json_or_html(404, defaults.page_not_found)
handler500 = _json_or_html(500, defaults.server_error)
