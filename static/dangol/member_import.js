// The member import's page: the progress bar and counts follow the job until it finishes.
(function () {
  "use strict";
  var root = document.querySelector(".member-import[data-status-url]");
  if (!root || root.dataset.finished) { return; }
  var url = root.dataset.statusUrl;

  function show(status) {
    document.getElementById("import-progress").value = status.percent;
    document.getElementById("import-percent").textContent = status.percent;
    document.getElementById("import-processed").textContent = status.processed;
    document.getElementById("import-total").textContent = status.total;
    document.getElementById("import-state").textContent = status.state_label;
    Object.keys(status.counts).forEach(function (name) {
      document.querySelectorAll('[data-count="' + name + '"]').forEach(function (cell) {
        cell.textContent = status.counts[name];
      });
    });
    if (status.counts.rejected) { document.getElementById("rejected-download").hidden = false; }
    if (status.refusal) {
      var refusal = document.getElementById("import-refusal");
      refusal.textContent = status.refusal;
      refusal.hidden = false;
    }
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) { return; }
        show(status);
        if (status.finished) { root.dataset.finished = "1"; } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
