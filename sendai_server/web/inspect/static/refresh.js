// The inspector's only script: reload a page that shows work in progress (a PROCESSING task
// or upload) every few seconds while the tab is visible, so it follows the pipeline.
const seconds = Number(document.body.dataset.refresh || 0);
if (seconds > 0) {
  setInterval(() => { if (document.visibilityState === "visible") location.reload(); }, seconds * 1000);
}
