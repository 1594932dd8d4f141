// keyward portal: small enhancements; every page works without them.
"use strict";

document.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;

  // Copy a shown-once secret to the clipboard.
  const copy = target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    const status = document.getElementById(copy.dataset.copied || "");
    try {
      await navigator.clipboard.writeText(source ? source.textContent.trim() : "");
      if (status) status.textContent = "Copied to the clipboard.";
      copy.textContent = "Copied";
    } catch (error) {
      if (status) status.textContent = "Could not copy: select the key and copy it by hand.";
    }
    return;
  }

  // Ask in a dialog instead of on a page of its own.
  const opener = target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      dialog.returnFocusTo = opener;
      dialog.showModal();
    }
    return;
  }

  const close = target.closest("dialog [data-close]");
  if (close) {
    close.closest("dialog").close();
  }
});

// Focus goes back to what opened the dialog, however it was closed (Cancel, Escape).
document.addEventListener(
  "close",
  (event) => {
    const dialog = event.target;
    if (dialog instanceof HTMLDialogElement && dialog.returnFocusTo) {
      dialog.returnFocusTo.focus();
    }
  },
  true,
);
