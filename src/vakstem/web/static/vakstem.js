// Vakstem respondent pages: optional enhancements. Every page works without this file.
// - a "saving…" state on submit that also stops a double click from sending the page twice
// - a live character counter for long answers
// - focus on the error summary so screen-reader and keyboard users start there
(function () {
  "use strict";
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      var button = event.submitter || form.querySelector("button[type=submit]");
      if (button && form.dataset.saving) {
        button.textContent = form.dataset.saving;
      }
      // Disabled only after the submit has started, so the button's own value is still sent.
      window.setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // A page restored from the back/forward cache must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });
  document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
    var counter = document.getElementById(area.dataset.counter);
    if (!counter || !counter.dataset.template) { return; }
    counter.setAttribute("aria-live", "polite");
    var update = function () {
      counter.textContent = counter.dataset.template.replace("{n}", String(area.value.length));
    };
    area.addEventListener("input", update);
    update();
  });
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
