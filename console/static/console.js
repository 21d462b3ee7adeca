// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // A link to one of a record's forms (an e-mail's "rate it": #rating) opens that form.
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === "DETAILS") target.open = true;

  // As a title is typed, the published articles that may already answer it appear under it.
  const title = document.getElementById("log-title");
  const shown = document.getElementById("suggestions");
  if (title && shown) {
    let timer;
    title.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const words = title.value.trim();
        if (words.length < 3) { shown.replaceChildren(); return; }
        const answer = await fetch("/console/suggestions?q=" + encodeURIComponent(words.slice(0, 200)),
          { credentials: "same-origin" });
        if (answer.ok) shown.innerHTML = await answer.text();  // the service's own, escaped
      }, 300);
    });
  }

  // The focus goes to the first field a refused form marked, so a keyboard or screen-reader
  // user lands where the error is.
  const invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) {
    const details = invalid.closest("details");
    if (details) details.open = true;
    invalid.focus();
  }
});
