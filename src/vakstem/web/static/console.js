// Researcher console: optional enhancements, CSP-safe (no inline code). The console works
// without this file.
// - the dashboard refreshes its figures every `data-refresh` seconds while the tab is visible
// - forms that download a file (and so leave the page in place) get their buttons back
(function () {
  "use strict";
  var box = document.getElementById("dashboard");
  if (box && window.fetch && window.DOMParser) {
    var seconds = parseInt(box.getAttribute("data-refresh"), 10) || 30;
    window.setInterval(function () {
      if (document.hidden) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("dashboard");
          if (fresh) { box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes)); }
        })
        .catch(function () { /* offline for a moment: keep the figures shown */ });
    }, seconds * 1000);
  }
  document.querySelectorAll("form[method=get]").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.dataset.sent = "";
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      }, 1500);
    });
  });
})();
