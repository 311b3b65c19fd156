// Progressive enhancement only: every form works without this file.
// - An attempt's countdown ticks (the server's deadline decides; the page shows it).
// - An attempt's answers are saved as they change (the form's own "Save" does the same).
// - A certificate gets a print button.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const timer = document.querySelector("[data-seconds-left]");
  const form = document.querySelector("form[data-autosave]");
  const status = document.querySelector(".autosave-status");
  if (timer) {
    const ends = Date.now() + Number(timer.dataset.secondsLeft) * 1000;
    const shown = timer.querySelector(".countdown");
    const tick = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      shown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (left === 0) {
        if (status && form) status.textContent = form.dataset.timeUp;
        return;
      }
      setTimeout(tick, 1000);
    };
    tick();
  }
  if (form) {
    let pending = null;
    const save = async () => {
      pending = null;
      const body = new URLSearchParams(new FormData(form));
      body.set("action", "autosave");
      try {
        // The form holds buttons named "action", which shadow form.action.
        const answer = await fetch(form.getAttribute("action"), { method: "POST", body, credentials: "same-origin" });
        if (status) status.textContent = answer.ok ? form.dataset.saved : form.dataset.failed;
      } catch (e) {
        if (status) status.textContent = form.dataset.failed;
      }
    };
    form.addEventListener("change", () => {
      if (pending) clearTimeout(pending);
      pending = setTimeout(save, 400);
    });
  }
  const print = document.querySelector("[data-print]");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", () => window.print());
  }
});
