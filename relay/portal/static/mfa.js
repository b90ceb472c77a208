// Passkeys in the Portal: the browser's WebAuthn calls for adding a
// passkey (My profile > Sign-in factors) and for signing in with one.
// The page's forms carry the answer to the server; no inline script (CSP).
"use strict";
(function () {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
    document.querySelectorAll("[data-passkey-add], [data-passkey-signin]").forEach((b) => {
      b.disabled = true;
      b.title = "This browser does not support passkeys.";
    });
    return;
  }
  const fail = (form, err) => {
    const p = form.querySelector("[data-passkey-error]");
    p.textContent = err && err.message ? err.message : String(err);
    p.hidden = false;
  };

  // Sign-in: the options for this challenge from the API, the passkey's
  // answer into the form.
  const signin = document.querySelector("[data-passkey-signin]");
  if (signin) {
    signin.addEventListener("click", async () => {
      const form = signin.form;
      try {
        const r = await fetch("/api/v1/login/mfa/passkey", {
          method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({challenge: form.dataset.challenge}),
        });
        const o = await r.json();
        if (!r.ok) throw new Error(o.error ? o.error.message : "the passkey sign-in could not start");
        const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.options.publicKey)});
        form.elements.assertion.value = JSON.stringify(c.toJSON());
        form.submit();
      } catch (e) {
        fail(form, e);
      }
    });
  }

  // Registration: the options from the Portal (it holds the session),
  // the new credential into the form.
  const add = document.querySelector("[data-passkey-add]");
  if (add) {
    add.addEventListener("click", async () => {
      const form = add.form;
      try {
        const r = await fetch("/profile/mfa/passkey-options", {method: "POST"});
        const o = await r.json();
        if (!r.ok) throw new Error(o.error || "the passkey could not be added");
        const c = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o.options.publicKey)});
        form.elements.ceremony.value = o.ceremony;
        form.elements.credential.value = JSON.stringify(c.toJSON());
        form.submit();
      } catch (e) {
        fail(form, e);
      }
    });
  }
})();
