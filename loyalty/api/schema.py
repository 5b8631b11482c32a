"""OpenAPI descriptions of the two credentials (drf-spectacular finds these on import)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "loyalty.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key dg_<prefix>_<secret>`"}


class WidgetTokenScheme(OpenApiAuthenticationExtension):
    target_class = "loyalty.api.auth.WidgetTokenAuthentication"
    name = "WidgetToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A widget token from POST /api/v1/widget-tokens"}
