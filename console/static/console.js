// The console's only script: "tick every row of this page" for the bulk form. Everything
// else is plain HTML forms and links, enhanced by htmx.
document.addEventListener("change", function (e) {
  if (e.target.id !== "select-page") return;
  document.querySelectorAll('input[name="row"][form="bulk"]').forEach(function (box) {
    box.checked = e.target.checked;
  });
});
