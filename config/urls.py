"""Top-level URLs: the admin, the REST API, its schema and docs, health, the widget demo."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import health
from loyalty.api.demo import widget_demo

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the admin header's ko/en switch
    path("api/v1/", include("loyalty.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health/", health, name="health"),
    path("widget/demo/", widget_demo, name="widget-demo"),
]

handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
