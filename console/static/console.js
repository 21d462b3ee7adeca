// Progressive enhancement only: every page works without this file.
// Move the focus to the first field a refused form marked, so a keyboard or screen-reader user
// lands where the error is.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) {
    const details = invalid.closest("details");
    if (details) details.open = true;
    invalid.focus();
  }
});
