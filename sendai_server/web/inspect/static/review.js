// The task page as a review screen: one page at a time with navigation and zoom, the
// annotations table and the page's boxes linked both ways, a confirmation before Discard, and
// Send AI's Alt+A for Approve. Plain JavaScript, served by this app; without it the page still
// works (every page shown, every button a plain form).
"use strict";

(() => {
  const sheets = Array.from(document.querySelectorAll("figure.sheet"));
  const viewport = document.getElementById("viewport");
  const toolbar = document.getElementById("viewer-toolbar");
  const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3];
  let current = 0;
  let zoom = 1;

  // --- pages and zoom ---------------------------------------------------------------------------

  function showPage(number) {
    if (!sheets.length) return;
    current = Math.max(0, Math.min(sheets.length - 1, number));
    sheets.forEach((sheet, index) => { sheet.hidden = index !== current; });
    document.getElementById("page-number").textContent =
      `Page ${current + 1} of ${sheets.length}`;
    document.getElementById("page-prev").disabled = current === 0;
    document.getElementById("page-next").disabled = current === sheets.length - 1;
  }

  function setZoom(value) {
    zoom = value;
    viewport.style.setProperty("--zoom", String(zoom));
    viewport.classList.toggle("zoomed", zoom > 1);
    document.getElementById("zoom-level").textContent = `${Math.round(zoom * 100)}%`;
    document.getElementById("zoom-out").disabled = zoom <= ZOOMS[0];
    document.getElementById("zoom-in").disabled = zoom >= ZOOMS[ZOOMS.length - 1];
  }

  function step(direction) {
    const next = direction > 0 ? ZOOMS.find((z) => z > zoom) : [...ZOOMS].reverse().find((z) => z < zoom);
    if (next !== undefined) setZoom(next);
  }

  if (toolbar && sheets.length) {
    toolbar.hidden = false;
    document.getElementById("page-prev").addEventListener("click", () => showPage(current - 1));
    document.getElementById("page-next").addEventListener("click", () => showPage(current + 1));
    document.getElementById("zoom-in").addEventListener("click", () => step(1));
    document.getElementById("zoom-out").addEventListener("click", () => step(-1));
    document.getElementById("zoom-fit").addEventListener("click", () => setZoom(1));
    showPage(0);
    setZoom(1);
  }

  // A page's image, once loaded, marks its sheet (tests and screenshots wait for it). An SVG
  // <image> may have loaded before this script ran and has no `complete`: a probe of the same
  // address (from the cache by then) always reports.
  for (const image of document.querySelectorAll("figure.sheet image.page-image")) {
    const sheet = image.closest("figure.sheet");
    const probe = new Image();
    probe.addEventListener("load", () => { sheet.dataset.loaded = "1"; });
    probe.addEventListener("error", () => { sheet.dataset.loaded = "error"; });
    probe.src = image.getAttribute("href");
  }

  // --- the table and the page, linked -----------------------------------------------------------

  function linked(key) {
    return document.querySelectorAll(`[data-mark="${CSS.escape(key)}"]`);
  }

  function hover(key, on) {
    linked(key).forEach((element) => element.classList.toggle("linked", on));
  }

  function select(key, from) {
    document.querySelectorAll("[data-mark].selected").forEach((e) => e.classList.remove("selected"));
    linked(key).forEach((element) => element.classList.add("selected"));
    const row = document.getElementById(`row-${key}`);
    const mark = document.getElementById(`mark-${key}`);
    if (from === "row" && mark) {
      showPage(Number(row.dataset.page));
      mark.scrollIntoView({ block: "center", inline: "center" });
    } else if (row) {
      row.scrollIntoView({ block: "nearest" });
    }
  }

  for (const element of document.querySelectorAll("[data-mark]")) {
    const key = element.dataset.mark;
    const from = element.tagName.toLowerCase() === "tr" ? "row" : "mark";
    element.addEventListener("mouseenter", () => hover(key, true));
    element.addEventListener("mouseleave", () => hover(key, false));
    element.addEventListener("focus", () => hover(key, true));
    element.addEventListener("blur", () => hover(key, false));
    element.addEventListener("click", () => select(key, from));
    element.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        select(key, from);
      }
    });
  }

  // --- Discard asks first -----------------------------------------------------------------------

  const discardForm = document.getElementById("form-discard");
  const dialog = document.getElementById("confirm-discard");
  if (discardForm && dialog && typeof dialog.showModal === "function") {
    discardForm.addEventListener("submit", (event) => {
      event.preventDefault();
      dialog.returnValue = "";
      dialog.showModal();
    });
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "discard") discardForm.submit();  // no submit event: no loop
    });
  }

  // --- Alt+A approves, as in Send AI's review screen --------------------------------------------

  const note = document.getElementById("shortcut-note");
  document.addEventListener("keydown", (event) => {
    const isA = event.code === "KeyA" || event.key.toLowerCase() === "a";
    if (!event.altKey || event.ctrlKey || event.metaKey || !isA) return;
    event.preventDefault();
    const approve = document.getElementById("action-approve");
    if (approve && !(dialog && dialog.open)) {
      approve.click();
    } else if (note) {
      note.textContent = "Alt+A approves, but Approve is not open to this task now.";
      note.hidden = false;
    }
  });
})();
