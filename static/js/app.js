// keydesk's few lines of behaviour: dialogs, the password re-prompt, copy,
// re-masking revealed keys, menus and toasts. No inline script anywhere;
// the server drives these through HX-Trigger events.
(function () {
  "use strict";

  var REMASK_DEFAULT_SECONDS = 300;
  var MAX_TOASTS = 3;
  var lastOpener = null;
  var pendingSecretButton = null;

  // ---- toasts ---------------------------------------------------------
  var toastStyles = {
    success: "border-emerald-200 bg-emerald-50 text-emerald-900",
    error: "border-red-200 bg-red-50 text-red-900",
    info: "border-slate-200 bg-white text-slate-900"
  };

  function showToast(message, level) {
    var region = document.getElementById("toasts");
    if (!region || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast " + (toastStyles[level] || toastStyles.info);
    toast.setAttribute("data-toast", level || "info");
    var text = document.createElement("p");
    text.className = "min-w-0 flex-1 [overflow-wrap:anywhere]";
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "text-current opacity-60 hover:opacity-100";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(text);
    toast.appendChild(close);
    region.appendChild(toast);
    // At most three at once, so a burst of outcomes never covers the page.
    var shown = region.querySelectorAll("[data-toast]");
    for (var i = 0; i < shown.length - MAX_TOASTS; i++) shown[i].remove();
    setTimeout(function () {
      toast.classList.add("opacity-0");
      setTimeout(function () { toast.remove(); }, 400);
    }, level === "error" ? 8000 : 5000);
  }

  // ---- dialogs --------------------------------------------------------
  function openDialog(dialog) {
    if (!dialog.open) {
      if (!lastOpener) lastOpener = document.activeElement;
      dialog.showModal();
    }
    var focusable = dialog.querySelector("[autofocus]") || dialog.querySelector("input, textarea, button");
    if (focusable) focusable.focus();
  }

  function closeDialog(dialog) {
    if (dialog && dialog.open) dialog.close();
  }

  // A page that arrives with its dialog open (a secret shown once after a
  // full-page form; open without script too) shows it modal like every
  // other dialog, and takes the address of the page it shows, so a reload
  // does not send the form again.
  function openDialogOnLoad() {
    var dialog = document.querySelector("dialog[data-open-on-load]");
    if (!dialog) return;
    dialog.removeAttribute("data-open-on-load");
    dialog.removeAttribute("open");
    openDialog(dialog);
    // Nothing on the page opened it: on close, focus goes to the heading
    // (not back to the body the page loaded with).
    lastOpener = null;
    var page = dialog.querySelector("[data-page-url]");
    if (page) history.replaceState(history.state, "", page.getAttribute("data-page-url"));
  }
  openDialogOnLoad();

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) return;
    if (dialog.id === "modal") dialog.replaceChildren();
    if (dialog.id === "reauth-dialog") {
      var form = dialog.querySelector("form");
      if (form) form.reset();
      // The last attempt's error belongs to that attempt, not the next one.
      var error = dialog.querySelector("#reauth-error");
      if (error) error.remove();
      var password = dialog.querySelector("#reauth-password");
      if (password) { password.removeAttribute("aria-invalid"); password.removeAttribute("aria-describedby"); }
    }
    var opener = lastOpener;
    lastOpener = null;
    // An opener re-rendered meanwhile (a log refreshing itself) is found
    // again by its id.
    if (opener && !opener.isConnected && opener.id) opener = document.getElementById(opener.id) || opener;
    if (opener && opener.isConnected && typeof opener.focus === "function") {
      focusRow = null;
      opener.focus();
    } else if (!focusRowTarget() && !focusPlacedOutside(dialog)) {
      var main = document.getElementById("main");
      var fallback = main && main.querySelector("h1");
      if (fallback) { fallback.setAttribute("tabindex", "-1"); fallback.focus(); }
    }
  }, true);

  // The close event arrives a task after the dialog closed; by then the
  // keys panel's load handler may have put focus on a row already.
  function focusPlacedOutside(dialog) {
    var active = document.activeElement;
    return !!active && active !== document.body && active.isConnected && !dialog.contains(active);
  }

  // A row action re-renders the keys panel, so the element that opened it
  // is gone: focus goes back to the same row's menu button, or, when the
  // row was deleted, the next row's (else the previous one's).
  var focusRow = null;

  function rememberRow(elt) {
    var row = elt && elt.closest("tr[id]");
    if (!row) { focusRow = null; return; }
    var next = row.nextElementSibling, prev = row.previousElementSibling;
    focusRow = { id: row.id, next: next && next.id, prev: prev && prev.id };
  }

  function focusRowTarget() {
    var info = focusRow;
    if (!info) return false;
    focusRow = null;
    var ids = [info.id, info.next, info.prev];
    for (var i = 0; i < ids.length; i++) {
      var row = ids[i] && document.getElementById(ids[i]);
      var summary = row && row.querySelector("details.menu > summary");
      if (summary) { summary.focus(); return true; }
    }
    var generate = document.querySelector("#keys-panel .btn-primary");
    if (generate) { generate.focus(); return true; }
    return false;
  }

  document.addEventListener("htmx:load", function (event) {
    if (!focusRow || event.target.id !== "keys-panel") return;
    setTimeout(function () {
      if (focusRow && !document.querySelector("dialog[open]")) focusRowTarget();
    }, 0);
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;

    var closer = target.closest("[data-close-dialog]");
    if (closer) {
      // A Cancel link closes the dialog it is in; on a page of its own
      // (no dialog) it goes where it points.
      var dialog = closer.closest("dialog");
      if (dialog) {
        event.preventDefault();
        closeDialog(dialog);
      }
      return;
    }

    var hide = target.closest("[data-hide-secret]");
    if (hide) {
      remask(hide.closest("[data-revealed]"), true);
      return;
    }

    var copyText = target.closest("[data-copy-text]");
    if (copyText) {
      writeClipboard(copyText.getAttribute("data-copy-text"), "Copied to the clipboard.");
      return;
    }

    // Close open menus when clicking elsewhere or choosing an item.
    document.querySelectorAll("details.menu[open], header details[open]").forEach(function (menu) {
      if (!menu.contains(target) || target.closest(".menu-item")) {
        if (target.closest(".menu-item")) lastOpener = menu.querySelector("summary");
        menu.removeAttribute("open");
      }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open], header details[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // A row menu opens upwards when it would end below the viewport.
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("menu")) return;
    var panel = menu.querySelector(".menu-panel");
    if (!panel) return;
    panel.classList.remove("menu-up");
    panel.removeAttribute("data-placed");
    if (!menu.open) return;
    var below = panel.getBoundingClientRect().bottom > window.innerHeight;
    var room = menu.getBoundingClientRect().top > panel.offsetHeight + 8;
    if (below && room) panel.classList.add("menu-up");
    // The toggle event comes a task after the menu opened: until then the
    // panel may still move up. data-placed says it stands where it stays.
    panel.setAttribute("data-placed", "");
  }, true);

  // Print (the recovery codes): the browser's print dialog.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });

  // Generate's Expiry date is there, and required, only for Custom date.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-expiry-select")) return;
    var wrap = select.form && select.form.querySelector("[data-expiry-date-field]");
    if (!wrap) return;
    var custom = select.value === "custom";
    wrap.classList.toggle("hidden", !custom);
    var date = wrap.querySelector("input[type=date]");
    if (date) date.required = custom;
  });

  // ---- secrets ---------------------------------------------------------
  function writeClipboard(value, message) {
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      showToast("Copy failed: this browser does not allow clipboard access here.", "error");
      return;
    }
    navigator.clipboard.writeText(value).then(function () {
      showToast(message, "success");
    }, function () {
      showToast("Copy failed: the browser refused clipboard access. Nothing was copied.", "error");
    });
  }

  function remask(cell, restoreFocus) {
    if (!cell || !cell.isConnected) return;
    var template = cell.querySelector("template");
    if (!template) return;
    var masked = template.content.firstElementChild.cloneNode(true);
    cell.replaceWith(masked);
    if (window.htmx) window.htmx.process(masked);
    if (restoreFocus) {
      var eye = masked.querySelector("[aria-label='Show API key']");
      if (eye) eye.focus();
    }
  }

  function armRemask(root) {
    var cells = [];
    if (root.matches && root.matches("[data-revealed]")) cells.push(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-revealed]").forEach(function (c) { cells.push(c); });
    cells.forEach(function (cell) {
      if (cell.hasAttribute("data-armed")) return;
      cell.setAttribute("data-armed", "");
      var seconds = parseInt(cell.getAttribute("data-remask-after"), 10) || REMASK_DEFAULT_SECONDS;
      setTimeout(function () { remask(cell, false); }, seconds * 1000);
      var focus = cell.id === focusCopyAfterReveal ? cell.querySelector("[data-copy-secret]") : cell.querySelector("[data-hide-secret]");
      if (cell.id === focusCopyAfterReveal) focusCopyAfterReveal = null;
      if (focus) focus.focus();
    });
  }

  // ---- htmx wiring -----------------------------------------------------
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var modal = document.getElementById("modal");
    // A log refreshing itself (data-refreshing) is no opener: focus goes
    // back to what the admin clicked, not to the refreshed section.
    if (elt && modal && !modal.contains(elt) && !elt.closest("dialog") && !elt.hasAttribute("data-refreshing")) {
      lastOpener = elt.closest("details.menu") ? elt.closest("details.menu").querySelector("summary") : elt;
      if (elt.closest("details.menu")) rememberRow(elt); else if (!elt.closest("[id^='secret-']")) focusRow = null;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "modal" && target.children.length > 0) openDialog(target);
    armRemask(event.detail.elt && event.detail.elt.isConnected ? event.detail.elt : document.body);
    if (target && target.closest && target.closest("dialog[open]")) {
      var invalid = target.querySelector("[aria-invalid='true']");
      if (invalid) invalid.focus();
    }
  });

  document.body.addEventListener("toast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  document.body.addEventListener("close-modal", function () {
    closeDialog(document.getElementById("modal"));
  });

  document.body.addEventListener("reauth-required", function (event) {
    pendingSecretButton = event.target;
    lastOpener = event.target;
    openDialog(document.getElementById("reauth-dialog"));
  });

  // "You can show keys without your password until 14:32", in the
  // browser's time, hidden once that time has passed.
  var reauthTimer = null;
  function showReauthWindow(iso) {
    var notice = document.getElementById("reauth-window");
    var until = new Date(iso);
    if (!notice || isNaN(until.getTime())) return;
    var clock = until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    notice.textContent = "You can show keys without your password until ";
    var time = document.createElement("time");
    time.setAttribute("datetime", iso);
    time.textContent = clock;
    notice.appendChild(time);
    notice.appendChild(document.createTextNode("."));
    notice.classList.remove("hidden");
    clearTimeout(reauthTimer);
    reauthTimer = setTimeout(function () {
      var n = document.getElementById("reauth-window");
      if (n) { n.classList.add("hidden"); n.textContent = ""; }
    }, Math.max(0, until.getTime() - Date.now()));
  }
  document.addEventListener("htmx:load", function (event) {
    var notice = event.target.querySelector && event.target.querySelector("#reauth-window time");
    if (notice) showReauthWindow(notice.getAttribute("datetime"));
  });

  document.body.addEventListener("reauthenticated", function (event) {
    if (event.detail && event.detail.until) showReauthWindow(event.detail.until);
    var dialog = document.getElementById("reauth-dialog");
    var button = pendingSecretButton;
    pendingSecretButton = null;
    lastOpener = button;
    if (clipboardWait && clipboardWait.elt === button) clipboardWait.confirmed = true;
    closeDialog(dialog);
    if (button && button.isConnected) {
      // A gated form (Single sign-on's Save) is submitted again, a button
      // pressed again.
      if (button.tagName === "FORM") button.requestSubmit(); else button.click();
    }
  });

  // ---- copy inside the user's gesture ----------------------------------
  // Browsers allow a clipboard write only inside the user's own click or
  // key press, and the key arrives a round trip (or, after the password
  // dialog, two) later. So the write starts in the click, with a
  // ClipboardItem whose content is a promise of the key; the copy response
  // resolves it. Where that is not possible, the key is revealed with a
  // focused Copy button for the user to press.
  var clipboardWait = null;

  function settleClipboardWait(silently) {
    var wait = clipboardWait;
    clipboardWait = null;
    if (!wait) return;
    wait.silent = silently;
    wait.reject(new Error("no key"));
  }

  function startClipboardWrite(button) {
    settleClipboardWait(true);
    if (typeof ClipboardItem === "undefined" || !navigator.clipboard || !navigator.clipboard.write) return;
    var wait = { elt: button, silent: false, secret: null, message: null };
    var text = new Promise(function (resolve, reject) { wait.resolve = resolve; wait.reject = reject; });
    text.catch(function () {});
    var item;
    try {
      item = new ClipboardItem({ "text/plain": text.then(function (value) { return new Blob([value], { type: "text/plain" }); }) });
    } catch (e) {
      return;
    }
    clipboardWait = wait;
    navigator.clipboard.write([item]).then(function () {
      showToast(wait.message, "success");
    }, function () {
      if (wait.silent) return;
      if (wait.secret !== null) { fallbackCopy(wait.elt, wait.secret, wait.message); return; }
      showToast("Copy failed: the key could not be fetched. Nothing was copied.", "error");
    });
  }

  // fallbackCopy tries a plain write, then shows the key with its Copy
  // button focused, so the next press is the user's own gesture.
  function fallbackCopy(button, secret, message) {
    var done = function () { showToast(message, "success"); };
    var reveal = function () {
      var cell = button && button.closest("[id^='secret-']");
      var eye = cell && cell.querySelector("[aria-label='Show API key']");
      if (!eye) {
        showToast("Copy failed: the browser refused clipboard access. Nothing was copied.", "error");
        return;
      }
      focusCopyAfterReveal = cell.id;
      eye.click();
      showToast("Your browser needs one more press: the key is shown, press Copy API key to copy it.", "info");
    };
    if (!navigator.clipboard || !navigator.clipboard.writeText) { reveal(); return; }
    navigator.clipboard.writeText(secret).then(done, reveal);
  }
  var focusCopyAfterReveal = null;

  document.addEventListener("click", function (event) {
    if (!event.isTrusted) return;
    var target = event.target instanceof Element ? event.target : null;
    var button = target && target.closest("[data-copy-secret]");
    if (button && !button.disabled) startClipboardWrite(button);
  }, true);

  document.addEventListener("submit", function (event) {
    if (event.target.id !== "reauth-form" || !pendingSecretButton) return;
    if (pendingSecretButton.hasAttribute("data-copy-secret")) startClipboardWrite(pendingSecretButton);
  }, true);

  document.body.addEventListener("reauth-required", function (event) {
    if (clipboardWait && clipboardWait.elt === event.target) settleClipboardWait(true);
  }, true);

  document.addEventListener("close", function (event) {
    if (event.target.id === "reauth-dialog" && clipboardWait && !clipboardWait.confirmed) settleClipboardWait(true);
  }, true);

  // A copy response carries the key in its body (never in a header) and a
  // copy-secret event with the message; both arrive with the same request.
  var pendingCopy = null;
  document.body.addEventListener("copy-secret", function (event) {
    pendingCopy = { elt: event.target, message: event.detail.message || "API key copied to the clipboard." };
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var xhr = event.detail.xhr;
    if (clipboardWait && clipboardWait.elt === elt && !(pendingCopy && pendingCopy.elt === elt)) {
      // Refused before anything ran: the retry's answer settles it.
      if (xhr.status === 409 && xhr.getResponseHeader("X-Keydesk-Session-Changed") === "retry") return;
      if (!event.detail.successful) settleClipboardWait(false);
      return;
    }
    if (!pendingCopy || pendingCopy.elt !== elt) return;
    var message = pendingCopy.message;
    pendingCopy = null;
    if (!event.detail.successful || !xhr.responseText) {
      settleClipboardWait(true);
      showToast("Copy failed: the key could not be fetched. Nothing was copied.", "error");
      return;
    }
    if (clipboardWait && clipboardWait.elt === elt) {
      var wait = clipboardWait;
      clipboardWait = null;
      wait.secret = xhr.responseText;
      wait.message = message;
      wait.resolve(xhr.responseText);
      return;
    }
    fallbackCopy(elt, xhr.responseText, message);
  });

  // A request that left with a session id a re-authentication rotated a
  // moment ago was refused before anything ran: send it again, once, with
  // the cookie the browser now holds.
  function retryAfterSessionChange(event) {
    var xhr = event.detail.xhr;
    var config = event.detail.requestConfig;
    var elt = event.detail.elt;
    if (xhr.status !== 409 || xhr.getResponseHeader("X-Keydesk-Session-Changed") !== "retry" || !config || !elt) return false;
    if (elt.hasAttribute("data-session-retried")) return false;
    elt.setAttribute("data-session-retried", "");
    var source = elt;
    htmx.ajax(config.verb.toUpperCase(), config.path, { source: source, target: event.detail.target })
      .finally(function () { source.removeAttribute("data-session-retried"); });
    return true;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401 && xhr.getResponseHeader("HX-Redirect")) return;
    if (retryAfterSessionChange(event)) return;
    var type = xhr.getResponseHeader("Content-Type") || "";
    var message = type.indexOf("text/plain") === 0 && xhr.responseText ? xhr.responseText : "Something went wrong (" + xhr.status + "). Try again.";
    showToast(message, "error");
  });

  // ---- identity-provider step-up -------------------------------------
  // An admin whom single sign-on signed in, with neither passkey nor
  // authenticator app, confirms at the identity provider: the dialog's form
  // carries what to resume (the request path of the button that asked) and
  // the page to come back to. The tab remembers it in sessionStorage, so a
  // link carrying ?resume= from elsewhere presses nothing.
  var RESUME_KEY = "keydesk.resume";
  document.body.addEventListener("reauth-required", function (event) {
    var form = document.getElementById("reauth-sso-form");
    if (!form) return;
    var elt = event.target;
    var path = elt && elt.tagName !== "FORM" ? (elt.getAttribute("hx-post") || elt.getAttribute("hx-get") || "") : "";
    var resume = form.querySelector("[data-resume-field]");
    var next = form.querySelector("[data-next-field]");
    if (resume) resume.value = path;
    if (next) next.value = location.pathname + location.search.replace(/([?&])resume=[^&]*&?/, "$1").replace(/[?&]$/, "");
  });
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "reauth-sso-form") return;
    var resume = event.target.querySelector("[data-resume-field]");
    try {
      if (resume && resume.value) sessionStorage.setItem(RESUME_KEY, resume.value); else sessionStorage.removeItem(RESUME_KEY);
    } catch (e) { /* storage refused: nothing resumes */ }
  }, true);
  function resumeAfterStepUp() {
    var params = new URLSearchParams(location.search);
    var resume = params.get("resume");
    if (!resume) return;
    params.delete("resume");
    var rest = params.toString();
    history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
    var expected = null;
    try { expected = sessionStorage.getItem(RESUME_KEY); sessionStorage.removeItem(RESUME_KEY); } catch (e) { return; }
    if (expected !== resume) return;
    var buttons = document.querySelectorAll("button[hx-post], button[hx-get]");
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      if (b.getAttribute("hx-post") === resume || b.getAttribute("hx-get") === resume) { b.click(); return; }
    }
  }
  document.addEventListener("htmx:load", function (event) {
    if (event.target === document.body) resumeAfterStepUp();
  });

  // The no-script page on the way to the identity provider follows its
  // link at once where script runs.
  var follow = document.querySelector("[data-follow-now]");
  if (follow) location.assign(follow.href);

  document.addEventListener("htmx:sendError", function () {
    showToast("Network error: keydesk could not be reached. Check your connection and try again.", "error");
  });
})();
