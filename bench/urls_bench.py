"""config.urls plus ``bench/bare/``: a DRF APIView returning a constant JSON body.

The baseline the API's endpoints are compared with: same server, same middleware, same
renderer, no authentication, permission, throttling or database query.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns
from members.models import Member

BODY = {"status": "ok", "service": "dangol", "version": 1}


class BareView(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response(BODY)


def one_query(request: HttpRequest, external_id: str) -> JsonResponse:
    """The floor for an endpoint that reads the database: plain Django, one indexed query."""
    row = Member.objects.filter(external_id=external_id).values_list("id", "name").first()
    return JsonResponse({"id": row[0] if row else None})


urlpatterns = [
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
    path("bench/one-query/<str:external_id>", one_query, name="bench-one-query"),
    *project_urlpatterns,
]
