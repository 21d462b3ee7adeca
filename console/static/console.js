// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // A link to one of a record's forms (an e-mail's "rate it": #rating) opens that form.
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === "DETAILS") target.open = true;

  // The focus goes to the first field a refused form marked, so a keyboard or screen-reader
  // user lands where the error is.
  const invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) {
    const details = invalid.closest("details");
    if (details) details.open = true;
    invalid.focus();
  }
});
