// audit-time.js — the Audit Trail's only behaviour: show event times in the
// browser's time zone, named once above the list (the UTC time stays in each
// <time>'s title) and tell
// the filter form that zone, so a custom range's days are the admin's days.
(function () {
  "use strict";

  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    zone = "";
  }
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    });
  } catch (e) {
    return;
  }

  function localise(root) {
    root.querySelectorAll("time[data-audit-time]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        el.textContent = format.format(d);
      }
    });
    if (!zone) {
      return;
    }
    document.querySelectorAll("[data-audit-tz-name]").forEach(function (el) {
      el.textContent = zone;
    });
    document.querySelectorAll("input[data-audit-tz-input]").forEach(function (el) {
      if (!el.value) {
        el.value = zone;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localise(document); });
  } else {
    localise(document);
  }
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
