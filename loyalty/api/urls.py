from django.urls import path, re_path

from . import views
from .errors import json_not_found

urlpatterns = [
    path("members", views.MemberLookupApi.as_view(), name="member-lookup"),
    path("members/<str:external_id>", views.MemberDetailApi.as_view(), name="member-detail"),
    path("members/<str:external_id>/balance", views.MemberBalanceApi.as_view(), name="member-balance"),
    path("members/<str:external_id>/transactions", views.MemberTransactionsApi.as_view(), name="member-transactions"),
    path("purchases", views.PurchaseCreateApi.as_view(), name="purchase-create"),
    path("purchases/<str:order_id>/refunds", views.RefundCreateApi.as_view(), name="refund-create"),
    path("redemptions", views.RedemptionCreateApi.as_view(), name="redemption-create"),
    path("redemptions/<int:redemption_id>/cancel", views.RedemptionCancelApi.as_view(), name="redemption-cancel"),
    path("activities", views.ActivityCreateApi.as_view(), name="activity-create"),
    path("widget-tokens", views.WidgetTokenApi.as_view(), name="widget-token"),
    path("widget/balance", views.WidgetBalanceApi.as_view(), name="widget-balance"),
    re_path(r"^.*$", json_not_found),  # the contract's 404 body, with DEBUG on or off
]
