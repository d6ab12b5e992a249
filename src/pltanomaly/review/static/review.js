// pltanomaly review: small page helpers (the pages work without them).
(function () {
  "use strict";
  // select-all checkbox on the fills table
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      var table = box.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]:not(:disabled)").forEach(function (b) { b.checked = box.checked; });
    });
  });
  // confirmation before destructive forms
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
  });
  // a "good" verdict takes no anomaly type
  document.querySelectorAll("form.verdict").forEach(function (form) {
    function sync() {
      var good = form.querySelector("input[value=good]").checked;
      var sel = form.querySelector("select[name=anomaly_type]");
      sel.disabled = good;
      if (good) sel.value = "";
    }
    form.querySelectorAll("input[name=verdict]").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  });
  // poll re-evaluation jobs that are still queued or running
  var active = Array.prototype.filter.call(document.querySelectorAll("[data-job-state]"), function (el) {
    return el.dataset.jobState === "PENDING_REEVALUATION" || el.dataset.jobState === "REEVALUATING";
  });
  if (!active.length) return;
  // a PLT badge names its fill (data-job-year/-fill), a DT one its run (data-job-key) and
  // the DT jobs endpoint (data-job-url)
  var jobsUrl = active[0].dataset.jobUrl || "/api/jobs";
  function jobKey(j) { return j.run !== undefined ? String(j.run) : j.year + "/" + j.fill; }
  function badgeKey(el) { return el.dataset.jobKey || el.dataset.jobYear + "/" + el.dataset.jobFill; }
  function poll() {
    fetch(jobsUrl).then(function (r) { return r.json(); }).then(function (body) {
      var byKey = {};
      body.jobs.forEach(function (j) { byKey[jobKey(j)] = j; });
      var still = 0, finished = 0;
      active.forEach(function (el) {
        var j = byKey[badgeKey(el)];
        if (!j) return;
        el.textContent = j.state;
        el.title = j.message;
        el.className = "badge job job-" + j.state;
        el.dataset.jobState = j.state;
        if (j.active) still++; else finished++;
      });
      if (finished && !document.getElementById("reload-note")) {
        var note = document.createElement("div");
        note.id = "reload-note";
        note.className = "notice ok";
        note.innerHTML = "Re-evaluation finished: <a href=''>reload</a> to see the new results.";
        document.querySelector("main").prepend(note);
      }
      if (still) setTimeout(poll, 2000);
    }).catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1500);
})();
