// roamlike pages: small progressive enhancements. Every page works without this script.
"use strict";

// A file picker fills the plans text box, so the plans travel with the form.
function wireFilePickers() {
  document.querySelectorAll("input[type=file][data-target]").forEach(function (picker) {
    picker.addEventListener("change", function () {
      var file = picker.files && picker.files[0];
      var target = document.getElementById(picker.dataset.target);
      var note = document.getElementById(picker.dataset.target + "-note");
      if (!file || !target) { return; }
      file.text().then(function (text) {
        target.value = text;
        if (note) { note.textContent = "Loaded " + file.name + " (" + text.length + " characters)."; }
      });
    });
  });
}

// Findings filter: rows carry data-status and data-severity; the choice lives in the URL.
function applyFilters(form, push) {
  var status = form.elements.status.value;
  var severity = form.elements.severity.value;
  var shown = 0;
  document.querySelectorAll("#findings tbody tr").forEach(function (row) {
    var ok = (!status || row.dataset.status === status) &&
      (!severity || row.dataset.severity === severity);
    row.hidden = !ok;
    if (ok) { shown += 1; }
  });
  var count = document.getElementById("shown-count");
  if (count) { count.textContent = String(shown); }
  var url = new URL(window.location.href);
  ["status", "severity"].forEach(function (key) {
    var value = form.elements[key].value;
    if (value) { url.searchParams.set(key, value); } else { url.searchParams.delete(key); }
  });
  if (push && url.href !== window.location.href) {
    window.history.pushState({}, "", url.href);
  }
}

function wireFilters() {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.addEventListener("change", function () { applyFilters(form, true); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    applyFilters(form, true);
  });
  window.addEventListener("popstate", function () {
    var params = new URL(window.location.href).searchParams;
    form.elements.status.value = params.get("status") || "";
    form.elements.severity.value = params.get("severity") || "";
    applyFilters(form, false);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  wireFilePickers();
  wireFilters();
});
