// The Portal's one script: small conveniences on top of pages that work
// as plain forms and links. No inline script anywhere (CSP).
"use strict";
(function () {
  // Emailed links carry their token in the fragment (#token=…), which the
  // browser never sends to the server: put it into the form, then drop it
  // from the address bar and history.
  const tokenInput = document.querySelector("[data-fragment-token]");
  if (tokenInput) {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      tokenInput.value = decodeURIComponent(m[1].replace(/\+/g, " "));
      history.replaceState(null, "", location.pathname);
    }
  }

  // Collapsible sidebar, remembered in this browser.
  const collapse = document.getElementById("collapse");
  if (collapse) {
    const set = (on) => {
      document.body.classList.toggle("collapsed", on);
      collapse.setAttribute("aria-expanded", on ? "false" : "true");
    };
    set(localStorage.getItem("tandem.collapsed") === "1");
    collapse.addEventListener("click", () => {
      const on = !document.body.classList.contains("collapsed");
      localStorage.setItem("tandem.collapsed", on ? "1" : "0");
      set(on);
    });
  }

  // Dialogs: buttons with data-open="id" open one, data-close closes it.
  document.addEventListener("click", (e) => {
    const open = e.target.closest("[data-open]");
    if (open) {
      const form = open.dataset.needsSelection;
      if (form && !document.querySelector(`input[form="${form}"]:checked`)) {
        alert("Select at least one row first.");
        return;
      }
      document.getElementById(open.dataset.open)?.showModal();
    }
    const close = e.target.closest("[data-close]");
    if (close) close.closest("dialog")?.close();
  });
  document.querySelectorAll("dialog[data-open-now]").forEach((d) => d.showModal());

  // Select all rows of a listing page.
  document.querySelectorAll("[data-select-all]").forEach((all) => {
    all.addEventListener("change", () => {
      document.querySelectorAll(`input[form="${all.dataset.selectAll}"][name="id"]`).forEach((c) => { c.checked = all.checked; });
    });
  });

  // One open filter menu at a time; Escape closes it.
  document.querySelectorAll("details.menu").forEach((d) => {
    d.addEventListener("toggle", () => {
      if (!d.open) return;
      document.querySelectorAll("details.menu[open]").forEach((o) => { if (o !== d) o.open = false; });
      d.querySelector("input:not([type=hidden]), button")?.focus();
    });
    d.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { d.open = false; d.querySelector("summary").focus(); }
    });
  });

  // Password rules (spec 2.3.2) ticked off as you type.
  document.querySelectorAll("[data-rules-for]").forEach((list) => {
    const input = document.getElementById(list.dataset.rulesFor);
    const tests = { length: (v) => v.length >= 8, upper: (v) => /[A-Z]/.test(v), lower: (v) => /[a-z]/.test(v), digit: (v) => /[0-9]/.test(v) };
    const update = () => list.querySelectorAll("[data-rule]").forEach((li) => li.classList.toggle("met", tests[li.dataset.rule](input.value)));
    input.addEventListener("input", update);
    update();
  });
})();
