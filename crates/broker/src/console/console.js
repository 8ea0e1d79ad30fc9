// The Runnel console's only script, compiled into the binary. Every page works without it:
// it adds conveniences (auto-refresh of live pages, confirmation of destructive forms).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const refresh = document.querySelector("meta[data-refresh]");
  if (refresh) {
    const seconds = Number(refresh.getAttribute("data-refresh")) || 5;
    setTimeout(() => { if (!document.querySelector("form :focus")) location.reload(); }, seconds * 1000);
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  }
  // Union branch pickers: show only the chosen branch's inputs.
  for (const picker of document.querySelectorAll("select[data-union]")) {
    const show = () => {
      for (const el of document.querySelectorAll(`[data-branch-of="${picker.name}"]`)) {
        el.hidden = el.getAttribute("data-branch") !== picker.value;
      }
    };
    picker.addEventListener("change", show);
    show();
  }
});
