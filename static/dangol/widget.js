/*
 * Dangol balance widget: a dependency-free script that renders a member's balance card.
 *
 *   <div data-dangol-balance data-token="WIDGET_TOKEN" data-lang="ko"></div>
 *   <script src="https://loyalty.example.com/static/dangol/widget.js" defer></script>
 *
 * or Dangol.renderBalance(element, {token, lang, apiBase}). The token comes from the shop's
 * server (POST /api/v1/widget-tokens); it reads one member's balance for 15 minutes.
 */
(function (global) {
  "use strict";

  var TEXT = {
    ko: {
      title: "내 포인트", available: "가용 포인트", pending: "적립 예정", tier: "등급",
      next: "{tier} 등급까지 {amount}원", top: "최고 등급입니다", expiring: "소멸 예정",
      expiringLine: "{date}에 {points} P 소멸", none: "소멸 예정 포인트가 없습니다",
      error: "포인트 정보를 불러오지 못했습니다.", expired: "세션이 만료되었습니다. 페이지를 새로고침해 주세요.",
      loading: "불러오는 중…", unit: "P"
    },
    en: {
      title: "My points", available: "Available", pending: "Pending", tier: "Tier",
      next: "{amount} won to {tier}", top: "You are at the top tier", expiring: "Expiring soon",
      expiringLine: "{points} P expire on {date}", none: "No points expiring soon",
      error: "Could not load your points.", expired: "Your session has expired. Please reload the page.",
      loading: "Loading…", unit: "P"
    }
  };

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function number(value, lang) {
    var n = Number(value);
    return isNaN(n) ? String(value) : n.toLocaleString(lang === "ko" ? "ko-KR" : "en-US");
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;  // textContent: never HTML from the API
    return node;
  }

  function injectStyle() {
    if (document.getElementById("dangol-widget-style")) return;
    var style = el("style");
    style.id = "dangol-widget-style";
    style.textContent =
      ".dangol-card{font-family:system-ui,-apple-system,'Apple SD Gothic Neo','Malgun Gothic',sans-serif;" +
      "border:1px solid #e3e3e8;border-radius:12px;padding:16px 18px;max-width:340px;background:#fff;color:#1d1d22}" +
      ".dangol-title{font-size:13px;color:#6b6b76;margin:0 0 6px}" +
      ".dangol-available{font-size:28px;font-weight:700;margin:0}" +
      ".dangol-row{display:flex;justify-content:space-between;font-size:14px;margin-top:8px}" +
      ".dangol-muted{color:#6b6b76}.dangol-list{margin:6px 0 0;padding:0;list-style:none;font-size:13px}" +
      ".dangol-error{color:#b00020;font-size:14px}";
    document.head.appendChild(style);
  }

  function render(root, data, t, lang) {
    root.textContent = "";
    var card = el("div", "dangol-card");
    card.setAttribute("role", "region");
    card.setAttribute("aria-label", t.title);
    card.appendChild(el("p", "dangol-title", t.title + " · " + t.available));
    var available = el("p", "dangol-available", number(data.available, lang) + " " + t.unit);
    available.setAttribute("data-field", "available");
    card.appendChild(available);

    var pending = el("div", "dangol-row");
    pending.appendChild(el("span", "dangol-muted", t.pending));
    var pendingValue = el("span", "", number(data.pending, lang) + " " + t.unit);
    pendingValue.setAttribute("data-field", "pending");
    pending.appendChild(pendingValue);
    card.appendChild(pending);

    var tier = el("div", "dangol-row");
    tier.appendChild(el("span", "dangol-muted", t.tier));
    var tierValue = el("span", "", data.tier ? data.tier.name : "-");
    tierValue.setAttribute("data-field", "tier");
    tier.appendChild(tierValue);
    card.appendChild(tier);

    if (data.next_tier || data.tier) {  // a programme without tiers shows no tier progress
      var next = el("div", "dangol-row dangol-muted", data.next_tier
        ? fmt(t.next, { tier: data.next_tier.name, amount: number(data.next_tier.amount_to_go, lang) })
        : t.top);
      next.setAttribute("data-field", "next-tier");
      card.appendChild(next);
    }

    var heading = el("div", "dangol-row dangol-muted", t.expiring);
    card.appendChild(heading);
    var list = el("ul", "dangol-list");
    list.setAttribute("data-field", "expiring");
    if (!data.expiring_soon || !data.expiring_soon.length) {
      list.appendChild(el("li", "dangol-muted", t.none));
    } else {
      data.expiring_soon.forEach(function (item) {
        list.appendChild(el("li", "", fmt(t.expiringLine, { points: number(item.points, lang), date: item.expires_on })));
      });
    }
    card.appendChild(list);
    root.appendChild(card);
  }

  function renderBalance(root, options) {
    options = options || {};
    var lang = (options.lang || root.getAttribute("data-lang") || document.documentElement.lang || "ko").slice(0, 2);
    var t = TEXT[lang] || TEXT.en;
    var token = options.token || root.getAttribute("data-token");
    var apiBase = (options.apiBase || root.getAttribute("data-api") || "").replace(/\/$/, "");
    injectStyle();
    root.textContent = t.loading;
    return fetch(apiBase + "/api/v1/widget/balance", {
      headers: { "Authorization": "Bearer " + token, "Accept": "application/json" },
      credentials: "omit"
    }).then(function (response) {
      if (response.status === 401) throw new Error("expired");
      if (!response.ok) throw new Error("http " + response.status);
      return response.json();
    }).then(function (data) {
      render(root, data, t, lang);
      return data;
    }).catch(function (error) {
      root.textContent = "";
      root.appendChild(el("p", "dangol-error", error.message === "expired" ? t.expired : t.error));
    });
  }

  function autoInit() {
    var nodes = document.querySelectorAll("[data-dangol-balance]");
    for (var i = 0; i < nodes.length; i++) renderBalance(nodes[i]);
  }

  global.Dangol = { renderBalance: renderBalance };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autoInit);
  else autoInit();
})(window);
