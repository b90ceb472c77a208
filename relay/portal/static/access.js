// Roles and Role assignments: show the fields that belong to the chosen
// role type, recurrence or role. Without this script every field shows
// and the relay reads only the chosen ones. No inline script (CSP).
"use strict";
(function () {
  const show = (nodes, on) => nodes.forEach((n) => { n.hidden = !on; });

  // Add role / Edit role: the options of the role type.
  const type = document.querySelector("[data-role-type-select]");
  if (type) {
    const update = () => document.querySelectorAll("[data-role-type]").forEach((f) => show([f], f.dataset.roleType === type.value));
    type.addEventListener("change", update);
    update();
  }

  // Schedule: the options of the recurrence; All day blanks the times.
  const rec = document.querySelector("[data-recurrence]");
  if (rec) {
    const update = () => document.querySelectorAll("[data-recur]").forEach((d) => show([d], d.dataset.recur === rec.value));
    rec.addEventListener("change", update);
    update();
  }
  const allDay = document.querySelector("[data-all-day]");
  if (allDay) {
    const update = () => document.querySelectorAll("[data-not-all-day]").forEach((i) => { i.disabled = allDay.checked; });
    allDay.addEventListener("change", update);
    update();
  }

  // Role assignment: OnDemand roles take no device group.
  const role = document.querySelector("[data-assignment-role]");
  const devs = document.querySelector("[data-device-groups]");
  if (role && devs) {
    const update = () => { devs.hidden = role.selectedOptions[0]?.dataset.type === "ondemand"; };
    role.addEventListener("change", update);
    update();
  }
})();
