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
    // Each <time>'s title holds its UTC time: worth a hint only when the
    // zone shown is another.
    var utc = zone === "UTC" || zone === "Etc/UTC";
    document.querySelectorAll("[data-audit-utc-hint]").forEach(function (el) {
      el.hidden = utc;
    });
    document.querySelectorAll("input[data-audit-tz-input]").forEach(function (el) {
      if (!el.value) {
        el.value = zone;
      }
    });
  }

  // From and To only for a custom period; on a phone the filters fold
  // away unless one is in use.
  function arrangeFilters() {
    var period = document.getElementById("audit-period");
    var range = document.querySelector("[data-audit-custom-range]");
    if (period && range) {
      var toggle = function () { range.classList.toggle("[&>*]:hidden", period.value !== "custom"); };
      period.addEventListener("change", toggle);
      toggle();
    }
    var filters = document.querySelector("details[data-audit-filters]");
    if (filters && window.matchMedia("(max-width: 639px)").matches) {
      var active = Array.prototype.some.call(filters.querySelectorAll("input[name]:not([type=hidden]), select[name]"), function (f) {
        return f.name !== "period" && f.value !== "";
      });
      if (!active) filters.removeAttribute("open");
    }
  }

  function ready() { localise(document); arrangeFilters(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
