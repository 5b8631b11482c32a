// The member import's page: the progress bar and counts follow the job until it finishes;
// while the preview is worked out, the page turns into the preview when it is ready.
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
    var download = document.getElementById("rejected-download");
    if (download && status.counts.rejected) { download.hidden = false; }
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
        if (status.next) { window.location.assign(status.next); return; }
        show(status);
        if (status.finished) { root.dataset.finished = "1"; } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
