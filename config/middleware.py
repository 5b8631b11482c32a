"""Request-size limits, checked before anything reads the body.

Django refuses a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when something reads it, by
raising ``RequestDataTooBig`` inside the view, where DRF's handler saw an unknown error (a
500). Here the declared length decides up front: API bodies over ``DANGOL_API_MAX_BODY_BYTES``
get the contract's 413 ``too_large``; everything else (the admin, whose member imports upload
files) has the larger ``DANGOL_ADMIN_UPLOAD_MAX_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from loyalty.api.errors import too_large_body

API_PREFIX = "/api/"


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if request.path.startswith(API_PREFIX):
            if length > settings.DANGOL_API_MAX_BODY_BYTES:
                return JsonResponse(too_large_body(), status=413)
        elif length > settings.DANGOL_ADMIN_UPLOAD_MAX_BYTES:
            return HttpResponse("Request body too large.", status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
