// Train a model (HR staff): hyperparameters with their ranges, the server's refusals
// beside the field they name (errors.field), then live progress from the subscription.
import { gql } from "../api.js";
import { append, field, h, statusBadge, toast } from "../dom.js";
import { pct } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";

const TRAIN = `mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) {
    trainingRun { id modelVersion status progress stage }
    errors { field message code }
  }
}`;

const CANCEL = `mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) { trainingRun { id status cancelRequested } errors { message } }
}`;

function numberInput(attrs) {
  return h("input", { type: "number", inputmode: "decimal", ...attrs });
}

function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

/** The free-text dataset field, used when the server has no `datasets` listing. */
function datasetText() {
  const input = h("input", { type: "text", placeholder: "default: the shipped dataset", spellcheck: "false" });
  return {
    element: field({ name: "datasetPath", label: "Dataset (CSV under the datasets folder)", input, hint: "Leave empty for the shipped dataset." }),
    value: () => input.value.trim() || null,
  };
}

export async function render(main, ctx) {
  let dataset = datasetText();
  let upload = null;
  if (ctx.caps.datasets) {
    const datasets = await import("./datasets.js");
    dataset = await datasets.datasetPicker(ctx);
    if (ctx.caps.uploadDataset) upload = datasets.uploadForm(ctx, (path) => dataset.refresh(path));
  }
  const inputs = {
    testSplit: numberInput({ min: 0.1, max: 0.5, step: 0.05, value: 0.2 }),
    nEstimators: numberInput({ min: 1, max: 1000, step: 1, value: 200 }),
    maxDepth: numberInput({ min: 1, max: 100, step: 1, placeholder: "unlimited" }),
    minSamplesSplit: numberInput({ min: 2, step: 1, value: 2 }),
    minSamplesLeaf: numberInput({ min: 1, step: 1, value: 1 }),
    classWeight: h("select", {}, h("option", { value: "BALANCED", selected: true }, "balanced"), h("option", { value: "BALANCED_SUBSAMPLE" }, "balanced per tree (subsample)"), h("option", { value: "" }, "none")),
    randomState: numberInput({ min: 0, step: 1, value: 42 }),
    modelVersion: h("input", { type: "text", maxlength: 64, placeholder: "generated when empty", spellcheck: "false" }),
    notes: h("textarea", { rows: 2 }),
  };
  const formError = h("p.error", { role: "alert" });
  const submit = h("button", { type: "submit" }, "Train");
  const progress = h("div.card.training", { hidden: true, "aria-live": "polite" });

  const form = h(
    "form.card.train",
    { novalidate: true, onsubmit: onSubmit, "aria-labelledby": "train-title" },
    h("h2#train-title", {}, "New training run"),
    dataset.element,
    h(
      "fieldset.grid-fields",
      {},
      h("legend", {}, "Random forest"),
      field({ name: "nEstimators", label: "Trees", input: inputs.nEstimators, hint: "1 to 1000." }),
      field({ name: "maxDepth", label: "Max depth", input: inputs.maxDepth, hint: "1 to 100; empty: unlimited." }),
      field({ name: "minSamplesSplit", label: "Min samples to split", input: inputs.minSamplesSplit, hint: "At least 2." }),
      field({ name: "minSamplesLeaf", label: "Min samples per leaf", input: inputs.minSamplesLeaf, hint: "At least 1." }),
      field({ name: "classWeight", label: "Class weight", input: inputs.classWeight }),
    ),
    h(
      "fieldset.grid-fields",
      {},
      h("legend", {}, "Evaluation and naming"),
      field({ name: "testSplit", label: "Test split", input: inputs.testSplit, hint: "0.1 to 0.5 of the rows." }),
      field({ name: "randomState", label: "Random state", input: inputs.randomState, hint: "0 or more." }),
      field({ name: "modelVersion", label: "Model version", input: inputs.modelVersion, hint: "Unique; letters, digits, '.', '_', '-' (64 at most)." }),
      field({ name: "notes", label: "Notes", input: inputs.notes }),
    ),
    formError,
    h("div.actions", {}, submit),
  );

  append(main, h("div.heading", {}, h("h1", {}, "Train")), form, progress, upload);

  function clearErrors() {
    formError.textContent = "";
    for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  function showErrors(errors) {
    let first = null;
    for (const error of errors) {
      const name = (error.field || []).at(-1);
      const slot = name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
      if (slot) {
        slot.textContent = `${error.message} (${error.code})`;
        const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
        input?.setAttribute("aria-invalid", "true");
        first = first || input;
      } else {
        formError.textContent = `${formError.textContent} ${error.message} (${error.code})`.trim();
      }
    }
    (first || formError).focus?.();
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    const input = {
      datasetPath: dataset.value(),
      testSplit: numberOrNull(inputs.testSplit) ?? 0.2,
      randomState: numberOrNull(inputs.randomState) ?? 42,
      modelVersion: inputs.modelVersion.value.trim() || null,
      notes: inputs.notes.value,
      hyperparameters: {
        nEstimators: numberOrNull(inputs.nEstimators) ?? 200,
        maxDepth: numberOrNull(inputs.maxDepth),
        minSamplesSplit: numberOrNull(inputs.minSamplesSplit) ?? 2,
        minSamplesLeaf: numberOrNull(inputs.minSamplesLeaf) ?? 1,
        classWeight: inputs.classWeight.value || null,
      },
    };
    submit.disabled = true;
    try {
      const data = await gql(TRAIN, { input });
      const { trainingRun, errors } = data.trainModel;
      if (errors.length) {
        showErrors(errors);
        return;
      }
      watch(trainingRun);
    } catch (error) {
      formError.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  }

  let stop = null;
  function watch(run) {
    if (stop) stop();
    const bar = h("progress#train-progress", { max: 100, value: 0, "aria-label": `Progress of ${run.modelVersion}` });
    const text = h("span.progress-text#train-progress-text");
    const status = h("span");
    const cancel = h("button.danger", {
      type: "button",
      async onclick() {
        cancel.disabled = true;
        const result = await gql(CANCEL, { id: run.id });
        toast(result.cancelTrainingRun.errors[0]?.message || "Cancellation asked for.");
      },
    }, "Cancel");
    const link = h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, `Open run ${run.modelVersion}`);
    const show = () => {
      bar.value = Math.round(run.progress * 100);
      text.textContent = `${pct(run.progress)}${run.stage && !FINAL.has(run.status) ? ` · ${run.stage.toLowerCase().replace("_", " ")}` : ""}`;
      status.replaceChildren(statusBadge(run.status));
      progress.dataset.status = run.status;
      cancel.hidden = FINAL.has(run.status);
    };
    progress.replaceChildren(
      h("h2", {}, `Training ${run.modelVersion}`),
      h("div.progress", {}, bar, text, status),
      h("div.actions", {}, cancel, link),
    );
    progress.hidden = false;
    show();
    stop = live.subscribe(RUN_UPDATED, { id: run.id }, {
      next(data) {
        Object.assign(run, data.trainingRunUpdated);
        show();
        if (run.status === "FAILED") text.textContent = `${text.textContent} · ${run.errorMessage || "failed"}`;
      },
      error(errors) {
        toast(errors[0]?.message || "Live updates stopped.");
      },
    });
  }

  return () => stop && stop();
}

