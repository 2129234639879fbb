// Field definitions (templates/_definition_inputs.html): show only the constraint inputs of the chosen type.
// The others stay in the form, hidden, so switching back keeps what was typed; the server reads the chosen
// type's alone, so the form works the same without this script.
document.querySelectorAll("[data-definition]").forEach((definition) => {
  const select = definition.parentElement.querySelector("select[data-type-select]");
  if (!select) return;
  const show = () => {
    definition.querySelectorAll("[data-type]").forEach((group) => {
      group.hidden = group.dataset.type !== select.value;
    });
  };
  select.addEventListener("change", show);
  show();
});
