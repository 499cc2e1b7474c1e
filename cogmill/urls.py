from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path

from api.api import api
from api.problems import problem_for
from api.streams import prediction_stream
from cogmill.health import healthz
from playground.views import file_content

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("v1/predictions/<str:prediction_id>/stream", prediction_stream, name="prediction-stream"),
    path("v1/", api.urls),
    path("output/<str:file_id>/<str:name>", file_content, name="file-content"),
    path("", lambda request: HttpResponseRedirect("/v1/docs"), name="home"),
]


def _json_or_html(status: int, default):
    def handler(request, exception=None, **kwargs):
        if request.path.startswith("/v1/"):
            return problem_for(status, "The requested resource was not found" if status == 404 else
                               "Something went wrong on our side; it has been logged.")
        return default(request, exception) if exception is not None else default(request)
    return handler


def _default_404(request, exception):
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def _default_500(request):
    from django.views.defaults import server_error

    return server_error(request)


handler404 = _json_or_html(404, _default_404)
handler500 = _json_or_html(500, _default_500)
