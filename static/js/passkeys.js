// Passkeys (WebAuthn): a button with data-passkey="create" or "get" asks
// its data-options URL for the ceremony's options, runs the browser's
// ceremony and posts the answer to its data-finish URL. The server keeps
// the challenge; this file only converts between base64url and bytes.
(function () {
  "use strict";
  if (window.keydeskPasskeys) return;
  window.keydeskPasskeys = true;

  function toBytes(value) {
    var s = value.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken(button) {
    var form = button.closest("form");
    var input = form && form.querySelector("input[name=_csrf]");
    if (input) return input.value;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, token, body, contentType) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Content-Type": contentType, "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || "Something went wrong (" + response.status + "). Try again.");
        return data;
      });
    });
  }

  function creationOptions(options) {
    var o = options.publicKey;
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: o };
  }

  function requestOptions(options) {
    var o = options.publicKey;
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: o };
  }

  function attestationJSON(cred) {
    return JSON.stringify({
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(cred.response.clientDataJSON),
        attestationObject: toBase64url(cred.response.attestationObject),
        transports: cred.response.getTransports ? cred.response.getTransports() : []
      }
    });
  }

  function assertionJSON(cred) {
    return JSON.stringify({
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(cred.response.clientDataJSON),
        authenticatorData: toBase64url(cred.response.authenticatorData),
        signature: toBase64url(cred.response.signature),
        userHandle: toBase64url(cred.response.userHandle)
      }
    });
  }

  function showError(button, message) {
    var target = document.getElementById(button.getAttribute("data-error"));
    if (!target) return;
    target.textContent = message;
    target.classList.toggle("hidden", !message);
  }

  function run(button) {
    var mode = button.getAttribute("data-passkey");
    var token = csrfToken(button);
    var form = button.closest("form");
    var fields = new URLSearchParams();
    if (form) {
      new FormData(form).forEach(function (value, key) {
        if (key !== "_csrf") fields.append(key, value);
      });
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(button, "This browser does not support passkeys.");
      return;
    }
    showError(button, "");
    button.disabled = true;
    post(button.getAttribute("data-options"), token, fields.toString(), "application/x-www-form-urlencoded")
      .then(function (options) {
        if (mode === "create") return navigator.credentials.create(creationOptions(options)).then(attestationJSON);
        return navigator.credentials.get(requestOptions(options)).then(assertionJSON);
      })
      .then(function (answer) {
        return post(button.getAttribute("data-finish"), token, answer, "application/json");
      })
      .then(function (result) {
        if (result.redirect) {
          window.location.assign(result.redirect);
          return;
        }
        button.disabled = false;
        var done = button.getAttribute("data-done");
        if (done) document.body.dispatchEvent(new CustomEvent(done, { bubbles: true }));
      })
      .catch(function (error) {
        button.disabled = false;
        var message = error && error.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out. Try again."
          : (error && error.message) || "The passkey request failed. Try again.";
        showError(button, message);
      });
  }

  // Enter in a passkey form's field runs its button rather than
  // submitting the form.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-passkey-form")) return;
    event.preventDefault();
    var button = form.querySelector("button[data-passkey]");
    if (button && !button.disabled) run(button);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-passkey]");
    if (!button) return;
    event.preventDefault();
    run(button);
  });
})();
