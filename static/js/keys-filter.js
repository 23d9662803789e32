// Search, status filter and sort of the API Keys rows, in the browser: a
// program has at most 20 keys and all of them are on the page. The choice
// lives in the address (?q=&status=&sort=), so it survives a reload, and is
// applied again whenever an action re-renders the panel.
(function () {
  "use strict";

  var state = { q: "", status: "", sort: "" };

  function readAddress() {
    var params = new URLSearchParams(location.search);
    state.q = params.get("q") || "";
    state.status = params.get("status") || "";
    state.sort = params.get("sort") || "";
  }

  function writeAddress() {
    var params = new URLSearchParams(location.search);
    ["q", "status", "sort"].forEach(function (name) {
      if (state[name]) params.set(name, state[name]); else params.delete(name);
    });
    var query = params.toString();
    history.replaceState(history.state, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }

  var comparators = {
    name: function (a, b) { return a.dataset.name.localeCompare(b.dataset.name); },
    newest: function (a, b) { return Number(b.dataset.created) - Number(a.dataset.created); },
    "last-used": function (a, b) { return Number(b.dataset.lastUsed) - Number(a.dataset.lastUsed); }
  };

  function apply() {
    var panel = document.getElementById("keys-panel");
    var toolbar = panel && panel.querySelector("[data-keys-toolbar]");
    if (!toolbar) return;
    var search = toolbar.querySelector("#keys-search");
    var status = toolbar.querySelector("#keys-status");
    var sort = toolbar.querySelector("#keys-sort");
    if (search.value !== state.q) search.value = state.q;
    status.value = state.status;
    sort.value = state.sort;
    if (status.value !== state.status) state.status = status.value = "";
    if (sort.value !== state.sort) state.sort = sort.value = "";

    var body = panel.querySelector("tbody");
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-search]"));
    var ordered = rows.slice().sort(function (a, b) {
      var byChoice = comparators[state.sort] ? comparators[state.sort](a, b) : 0;
      return byChoice || Number(a.dataset.created) - Number(b.dataset.created);
    });
    // Move rows only when the order changes: a moved row loses focus.
    var inOrder = ordered.every(function (row, i) { return rows[i] === row; });
    if (!inOrder) {
      var focused = document.activeElement;
      ordered.forEach(function (row) { body.appendChild(row); });
      if (focused && focused !== document.activeElement && body.contains(focused)) focused.focus();
    }

    var needle = state.q.trim().toLowerCase().replace(/\s+/g, " ");
    var shown = 0;
    rows.forEach(function (row) {
      var match = (!state.status || row.dataset.status === state.status) &&
        row.dataset.search.indexOf(needle) >= 0;
      if (match) { row.removeAttribute("data-filtered-out"); shown++; } else row.setAttribute("data-filtered-out", "");
    });
    var filtering = needle !== "" || state.status !== "";
    panel.querySelector("[data-keys-table]").classList.toggle("hidden", shown === 0);
    panel.querySelector("#keys-no-match").classList.toggle("hidden", shown !== 0);
    var count = toolbar.querySelector("#keys-filter-count");
    var text = filtering ? "Showing " + shown + " of " + rows.length + " keys." : "";
    if (count.textContent !== text) count.textContent = text;
  }

  document.addEventListener("input", function (event) {
    if (!event.target.closest || !event.target.closest("[data-keys-toolbar]")) return;
    var t = event.target;
    if (t.id === "keys-search") state.q = t.value;
    if (t.id === "keys-status") state.status = t.value;
    if (t.id === "keys-sort") state.sort = t.value;
    writeAddress();
    apply();
  });

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element) || !event.target.closest("[data-keys-clear]")) return;
    state.q = "";
    state.status = "";
    writeAddress();
    apply();
    var search = document.getElementById("keys-search");
    if (search) search.focus();
  });

  document.addEventListener("htmx:load", function (event) {
    if (event.target.id === "keys-panel") apply();
  });

  readAddress();
  apply();
})();
