// The only script on the pages; everything works without it.
// Copy buttons: <button data-copy="element-id">, the result announced to screen readers.
// Dialogs: <a data-dialog="dialog-id" href="/fallback-page"> opens the dialog instead of the
// page; <button data-close="dialog-id"> closes it.
function announce(text) {
  let region = document.getElementById("live-announcer");
  if (!region) {
    region = document.createElement("div");
    region.id = "live-announcer";
    region.className = "visually-hidden";
    region.setAttribute("aria-live", "polite");
    document.body.appendChild(region);
  }
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

document.addEventListener("click", async (event) => {
  const opener = event.target.closest("a[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      dialog.showModal();
      const first = dialog.querySelector("input, select, button");
      if (first) first.focus();
    }
    return;
  }
  const closer = event.target.closest("button[data-close]");
  if (closer) {
    const dialog = document.getElementById(closer.dataset.close);
    if (dialog) dialog.close();
    return;
  }
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.getAttribute("aria-label") || "Copy";
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
    announce(label.replace(/^Copy/, "Copied"));
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
    announce("Selected: press Control C to copy");
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});
