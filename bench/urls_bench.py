"""config.urls plus ``bench/bare/``: a DRF APIView returning a constant JSON body.

The baseline the API's endpoints are compared with: same server, same middleware, same
renderer, no authentication, permission, throttling or database query.
"""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns

BODY = {"status": "ok", "service": "dangol", "version": 1}


class BareView(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response(BODY)


urlpatterns = [path("bench/bare/", BareView.as_view(), name="bench-bare"), *project_urlpatterns]
