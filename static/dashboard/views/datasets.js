// Datasets (on servers with Query.datasets / Mutation.uploadDataset): the train form's
// picker, and the upload form (GraphQL multipart request, Authorization header).
import { gql, gqlUpload } from "../api.js";
import { append, clear, field, h, section, toast, uniqueId } from "../dom.js";
import { bytes, int } from "../format.js";

// The picker shows how many columns a file has, not their names: a file's header can
// hold thousands of them, and the Train page lists every dataset each time it opens.
const DATASETS = `query Datasets { datasets { path sizeBytes rows columnCount modifiedAt } }`;

const UPLOAD = `mutation Upload($file: Upload!, $path: String!, $replace: Boolean) {
  uploadDataset(file: $file, path: $path, replace: $replace) {
    dataset { path rows columnCount sizeBytes sha256 }
    errors { field message code }
  }
}`;

function label(dataset) {
  return `${dataset.path} — ${int(dataset.rows)} rows × ${int(dataset.columnCount)} columns, ${bytes(dataset.sizeBytes)}`;
}

/** A text input naming a dataset file, suggesting the datasets folder's files as the
 * user types (a datalist: any path may still be typed, for the server to judge). Returns
 * the input and its list, both for the form. */
export function datasetInput() {
  const list = h("datalist", { id: uniqueId("datasets") });
  const input = h("input", { type: "text", spellcheck: "false", autocomplete: "off", list: list.id });
  gql(DATASETS)
    .then(({ datasets }) => list.replaceChildren(...datasets.map((dataset) => h("option", { value: dataset.path }, label(dataset)))))
    .catch(() => {}); // no suggestions: the field still takes a typed path
  return [input, list];
}

/** A select of the server's datasets; a free-text path when the listing fails. */
export async function datasetPicker() {
  let datasets;
  try {
    datasets = (await gql(DATASETS)).datasets;
  } catch {
    const input = h("input", { type: "text", spellcheck: "false" });
    return {
      element: field({ name: "datasetPath", label: "Dataset (CSV under the datasets folder)", input, hint: "Leave empty for the shipped dataset." }),
      value: () => input.value.trim() || null,
      refresh: (path) => {
        input.value = path;
      },
    };
  }
  const select = h("select", {});
  const fill = (items, chosen) => {
    append(
      clear(select),
      h("option", { value: "" }, "Default (the shipped dataset)"),
      items.map((dataset) => h("option", { value: dataset.path, selected: dataset.path === chosen, title: dataset.modifiedAt }, label(dataset))),
    );
  };
  fill(datasets, null);
  return {
    element: field({ name: "datasetPath", label: "Dataset", input: select, hint: "A CSV file of the datasets folder." }),
    value: () => select.value || null,
    async refresh(path) {
      fill((await gql(DATASETS)).datasets, path);
    },
  };
}

/** Upload a CSV into the datasets folder (HR staff). */
export function uploadForm(onUploaded) {
  const file = h("input", { type: "file", accept: ".csv,text/csv", required: true });
  const path = h("input", { type: "text", spellcheck: "false", required: true });
  const replace = h("input", { type: "checkbox" });
  const error = h("p.error", { role: "alert" });
  const button = h("button", { type: "submit" }, "Upload");
  file.addEventListener("change", () => {
    if (!path.value && file.files[0]) path.value = file.files[0].name;
  });
  const form = h(
    "form",
    {
      novalidate: true,
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = "";
        for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
        if (!file.files[0]) {
          form.querySelector('[data-error-for="file"]').textContent = "Choose a CSV file.";
          return;
        }
        button.disabled = true;
        try {
          const data = await gqlUpload(UPLOAD, { file: null, path: path.value.trim(), replace: replace.checked }, { file: file.files[0] });
          const result = data.uploadDataset;
          if (result.errors.length) {
            for (const failure of result.errors) {
              const name = (failure.field || []).at(-1);
              const slot = name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
              if (slot) slot.textContent = `${failure.message} (${failure.code})`;
              else error.textContent = `${error.textContent} ${failure.message} (${failure.code})`.trim();
            }
            return;
          }
          toast(`Uploaded ${result.dataset.path}: ${int(result.dataset.rows)} rows.`);
          form.dataset.uploaded = result.dataset.path;
          await onUploaded?.(result.dataset.path);
        } catch (failure) {
          error.textContent = failure.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    field({ name: "file", label: "CSV file", input: file }),
    field({ name: "path", label: "Save as (path under the datasets folder)", input: path, hint: "For example uploads/2026-12.csv." }),
    h("div.field", {}, h("label.check", {}, replace, " Replace a file of that name"), h("p.field-error", { dataset: { errorFor: "replace" } })),
    error,
    h("div.actions", {}, button),
  );
  form.classList.add("upload");
  return section("Upload a dataset", form);
}
