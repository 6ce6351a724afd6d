// The certificate form: a chosen PEM file is read in the browser into the PEM text field, so the form stays
// urlencoded (the console accepts no multipart bodies); pasting the PEM works without this script.
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input || input.type !== "file" || !input.dataset.target || !input.files || !input.files[0]) {
    return;
  }
  var target = document.getElementById(input.dataset.target);
  var reader = new FileReader();
  reader.onload = function () {
    target.value = String(reader.result);
    target.dispatchEvent(new Event("input", { bubbles: true }));
  };
  reader.readAsText(input.files[0]);
});
