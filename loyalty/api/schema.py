"""OpenAPI descriptions of the two credentials (drf-spectacular finds these on import)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .fields import NO_NUL_PATTERN


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


def text_rules_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Publish the rule every text field of a request body keeps: no NUL character (DRF refuses
    it; PostgreSQL cannot store it). Fields with their own pattern, format or choices say more."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith(("Input", "Request")) and name not in ("Item", "Consent"):
            continue
        for prop in component.get("properties", {}).values():
            if prop.get("type") == "string" and not ({"pattern", "format", "enum", "readOnly"} & prop.keys()):
                prop["pattern"] = NO_NUL_PATTERN
    return result
