// The console's only script: "tick every row of this page" for the bulk form, and Escape
// to leave an inline edit. Everything else is plain HTML forms and links, enhanced by
// htmx.
document.addEventListener("change", function (e) {
  if (e.target.id !== "select-page") return;
  document.querySelectorAll('input[name="row"][form="bulk"]').forEach(function (box) {
    box.checked = e.target.checked;
  });
});
document.addEventListener("keydown", function (e) {
  if (e.key !== "Escape") return;
  var form = e.target.closest && e.target.closest("tr.editing");
  var cancel = form && form.querySelector("a.cancel");
  if (cancel) window.location.assign(cancel.href);
});
