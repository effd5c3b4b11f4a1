// Train a model (HR staff): hyperparameters with their ranges, checked here first (a
// cleared field or "12.5" trees is a sentence beside the field, never a silent default nor
// graphql-core's variable error), the server's refusals beside the field they name
// (errors.field), then live progress from the subscription. The settings stay after a run
// and across visits (sessionStorage), and a run's page opens this form with its settings
// (#/train?from=<database id>).
import { append, field, h, setTitle, statusBadge, toast } from "../dom.js";
import { pct } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";
import { datasetPicker, uploadForm } from "./datasets.js";
import { runningText } from "./run.js";

const SETTINGS_KEY = "future-skills.train-settings";

const FROM_RUN = `query TrainFrom($id: ID!) {
  trainingRun(id: $id) {
    modelVersion datasetPath testSplit randomState notes
    hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
  }
}`;

// name → [label, min, max, whole number?, may be empty?]
const RULES = {
  nEstimators: ["Trees", 1, 1000, true, false],
  maxDepth: ["Max depth", 1, 100, true, true],
  minSamplesSplit: ["Min samples to split", 2, null, true, false],
  minSamplesLeaf: ["Min samples per leaf", 1, null, true, false],
  testSplit: ["Test split", 10, 50, false, false],
  randomState: ["Random state", 0, null, true, false],
};

/** A sentence saying what is wrong with a number field's text, or null when it is fine. */
function numberProblem(name, text) {
  const [label, min, max, whole, optional] = RULES[name];
  const range = max === null ? `${min} or more` : `from ${min} to ${max}`;
  const kind = whole ? "a whole number" : "a number";
  if (text === "") return optional ? null : `${label} is empty: enter ${kind} ${range}.`;
  const value = Number(text);
  if (!Number.isFinite(value)) return `${label} must be ${kind} ${range}; "${text}" is not a number.`;
  if (whole && !Number.isInteger(value)) return `${label} must be a whole number ${range}; ${text} is not.`;
  if (value < min || (max !== null && value > max)) return `${label} must be ${range}; ${text} is outside.`;
  return null;
}

const TRAIN = `mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) {
    trainingRun { id databaseId modelVersion status progress stage startedAt }
    errors { field message code }
  }
}`;

const CANCEL = `mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) { trainingRun { id status cancelRequested } errors { message } }
}`;

// type=text with inputmode: a number input hides what was typed ("12,5" reads as empty),
// and this form must say what is wrong with exactly what the person typed.
function numberInput(attrs) {
  return h("input", { type: "text", inputmode: "decimal", autocomplete: "off", ...attrs });
}

function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

/** The free-text dataset field, used when the server has no `datasets` listing. */
export async function render(main, ctx) {
  setTitle("Train");
  const dataset = await datasetPicker(ctx);
  const upload = uploadForm((path) => dataset.refresh(path));
  const inputs = {
    testSplit: numberInput({ value: "20" }),
    nEstimators: numberInput({ value: "200" }),
    maxDepth: numberInput({}),
    minSamplesSplit: numberInput({ value: "2" }),
    minSamplesLeaf: numberInput({ value: "1" }),
    classWeight: h("select", {}, h("option", { value: "BALANCED", selected: true }, "balanced"), h("option", { value: "BALANCED_SUBSAMPLE" }, "balanced per tree (subsample)"), h("option", { value: "" }, "none")),
    randomState: numberInput({ value: "42" }),
    modelVersion: h("input", { type: "text", maxlength: 64, spellcheck: "false" }),
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
      field({ name: "testSplit", label: "Test split (%)", input: inputs.testSplit, hint: "10 to 50 % of the rows." }),
      field({ name: "randomState", label: "Random state", input: inputs.randomState, hint: "0 or more." }),
      field({ name: "modelVersion", label: "Model version", input: inputs.modelVersion, hint: "Unique; letters, digits, '.', '_', '-' (64 at most). Empty: one is generated." }),
      field({ name: "notes", label: "Notes", input: inputs.notes }),
    ),
    formError,
    h("div.actions", {}, submit),
  );

  append(main, h("div.heading", {}, h("h1", {}, "Train")), form, progress, upload);

  // The settings to start from: a run's (from its page), else the last ones used here.
  const from = ctx.query.get("from");
  let settings = null;
  if (from) {
    const run = (await ctx.gql(FROM_RUN, { id: from })).trainingRun;
    if (run) {
      settings = { ...run.hyperparameters, testSplit: run.testSplit, randomState: run.randomState, datasetPath: run.datasetPath, notes: run.notes || "" };
      form.prepend(h("p.small#train-from", {}, `Settings of run ${run.modelVersion}: change what you need and press Train.`));
    }
  } else {
    try {
      settings = JSON.parse(sessionStorage.getItem(SETTINGS_KEY) || "null");
    } catch {
      settings = null;
    }
  }
  if (settings) restore(settings);

  function restore(saved) {
    for (const name of ["nEstimators", "maxDepth", "minSamplesSplit", "minSamplesLeaf", "randomState"]) {
      if (name in saved) inputs[name].value = saved[name] === null ? "" : String(saved[name]);
    }
    if (saved.testSplit !== undefined && saved.testSplit !== null) inputs.testSplit.value = String(Math.round(saved.testSplit * 1000) / 10);
    if ("classWeight" in saved) inputs.classWeight.value = saved.classWeight ? String(saved.classWeight).toUpperCase() : "";
    if (saved.notes !== undefined) inputs.notes.value = saved.notes;
    if (saved.datasetPath) dataset.refresh?.(saved.datasetPath);
  }

  function remember(input) {
    const { hyperparameters, testSplit, randomState, notes, datasetPath } = input;
    sessionStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...hyperparameters, testSplit, randomState, notes, datasetPath }));
  }

  /** Every field's problem beside it; true when there was none. */
  function checkFields() {
    let first = null;
    for (const name of Object.keys(RULES)) {
      const message = numberProblem(name, inputs[name].value.trim());
      if (!message) continue;
      form.querySelector(`[data-error-for="${name}"]`).textContent = message;
      inputs[name].setAttribute("aria-invalid", "true");
      first = first || inputs[name];
    }
    first?.focus();
    return !first;
  }

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
    if (!checkFields()) return;
    const input = {
      datasetPath: dataset.value(),
      testSplit: Math.round(numberOrNull(inputs.testSplit) * 10) / 1000,
      randomState: numberOrNull(inputs.randomState),
      modelVersion: inputs.modelVersion.value.trim() || null,
      notes: inputs.notes.value,
      hyperparameters: {
        nEstimators: numberOrNull(inputs.nEstimators),
        maxDepth: numberOrNull(inputs.maxDepth),
        minSamplesSplit: numberOrNull(inputs.minSamplesSplit),
        minSamplesLeaf: numberOrNull(inputs.minSamplesLeaf),
        classWeight: inputs.classWeight.value || null,
      },
    };
    submit.disabled = true;
    try {
      const data = await ctx.gql(TRAIN, { input });
      const { trainingRun, errors } = data.trainModel;
      if (errors.length) {
        showErrors(errors);
        return;
      }
      remember(input);
      // The version must be new for the next run; the other settings stay for "train again".
      inputs.modelVersion.value = "";
      watch(trainingRun);
    } catch (error) {
      formError.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  }

  let stop = null;
  let refresh = null;
  function watch(run) {
    if (stop) stop();
    const bar = h("progress#train-progress", { max: 100, value: 0, "aria-label": `Progress of ${run.modelVersion}` });
    const text = h("span.progress-text#train-progress-text");
    const status = h("span");
    const cancel = h("button.danger", {
      type: "button",
      async onclick() {
        cancel.disabled = true;
        const result = await ctx.gql(CANCEL, { id: run.id });
        toast(result.cancelTrainingRun.errors[0]?.message || "Cancellation asked for.");
      },
    }, "Cancel");
    const link = h("a", { href: `#/runs/${run.databaseId}` }, `Open run ${run.modelVersion}`);
    const timing = h("span.small");
    const again = h("button.secondary", { type: "button", hidden: true, onclick: () => form.querySelector("input, select")?.focus() }, "Train again with these settings");
    const show = () => {
      bar.value = Math.round(run.progress * 100);
      text.textContent = `${pct(run.progress)}${run.stage && !FINAL.has(run.status) ? ` · ${run.stage.toLowerCase().replace("_", " ")}` : ""}`;
      timing.textContent = run.status === "RUNNING" ? runningText({ ...run, nEstimators: trees }) : "";
      status.replaceChildren(statusBadge(run.status));
      progress.dataset.status = run.status;
      cancel.hidden = FINAL.has(run.status);
      again.hidden = !FINAL.has(run.status);
    };
    const trees = numberOrNull(inputs.nEstimators);
    progress.replaceChildren(
      h("h2", {}, `Training ${run.modelVersion}`),
      h("div.progress", {}, bar, text, status, timing),
      h("div.actions", {}, cancel, link, again),
    );
    progress.hidden = false;
    refresh = show;
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

  // The elapsed time and the estimate move each second, between the server's updates.
  const ticker = setInterval(() => refresh?.(), 1000);
  return () => {
    clearInterval(ticker);
    if (stop) stop();
  };
}

