// Passkeys on the portal pages. A form marked `data-passkey` ("register" or "login") runs a
// WebAuthn ceremony before it is sent: its fields are posted to `data-options` for the
// ceremony's options, the browser asks the person's authenticator, and the answer goes in
// the form's `credential` field (with its `passkey_token`). Without this script, or without
// WebAuthn, the forms stay hidden (login) or the server explains what is needed (register).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function bytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function text(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((c) => Object.assign({}, c, { id: bytes(c.id) }));
  }

  // The server's JSON options (binary fields base64url) as the browser takes them.
  function creation(options) {
    return Object.assign({}, options, {
      challenge: bytes(options.challenge),
      user: Object.assign({}, options.user, { id: bytes(options.user.id) }),
      excludeCredentials: withIds(options.excludeCredentials),
    });
  }

  function request(options) {
    return Object.assign({}, options, {
      challenge: bytes(options.challenge),
      allowCredentials: withIds(options.allowCredentials),
    });
  }

  // The browser's credential in its JSON form (PublicKeyCredential.toJSON()).
  function answer(credential) {
    const r = credential.response;
    const response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      response.userHandle = r.userHandle ? text(r.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  function say(form, message) {
    const alert = form.querySelector("[data-passkey-error]");
    alert.textContent = message;
    alert.hidden = false;
  }

  async function ceremony(form) {
    const fields = new URLSearchParams(new FormData(form));
    const reply = await fetch(form.dataset.options, {
      method: "POST",
      body: fields,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const options = await reply.json().catch(() => ({}));
    if (!reply.ok || !options.publicKey) {
      throw new Error(options.detail || "The passkey could not be started. Try again.");
    }
    const credential = form.dataset.passkey === "register"
      ? await navigator.credentials.create({ publicKey: creation(options.publicKey) })
      : await navigator.credentials.get({ publicKey: request(options.publicKey) });
    form.elements.passkey_token.value = options.passkey_token;
    form.elements.credential.value = answer(credential);
  }

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      if (form.elements.credential.value) {
        return;
      }
      event.preventDefault();
      try {
        await ceremony(form);
        form.submit();
      } catch (error) {
        const cancelled = error && error.name === "NotAllowedError";
        say(form, cancelled ? "No passkey was used." : error.message);
      }
    });
  });
})();
