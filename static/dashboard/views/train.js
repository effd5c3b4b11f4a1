// Train a model (HR staff): an algorithm and its parameters, both built from
// Query.trainingAlgorithms (the one table of trainer/ml/algorithms.py: labels, ranges, help),
// checked here first (a cleared field or "12.5" trees is a sentence beside the field, never a
// silent default nor graphql-core's variable error), the server's refusals beside the field
// they name (errors.field), optional cross-validation, then live progress from the
// subscription. The settings stay after a run and across visits (sessionStorage), and a run's
// page opens this form with its settings (#/train?from=<database id>).
import { append, field, h, setTitle, statusBadge, toast } from "../dom.js";
import { pct } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";
import { datasetPicker, uploadForm } from "./datasets.js";
import { runningText } from "./run.js";

const SETTINGS_KEY = "future-skills.train-settings";
// The API's default (the REST original's model); boosting is offered first in the picker.
const DEFAULT_ALGORITHM = "RANDOM_FOREST";
const RECOMMENDED = "HIST_GRADIENT_BOOSTING";
const NAMES = {
  RANDOM_FOREST: "Random forest (default)",
  HIST_GRADIENT_BOOSTING: "Gradient boosting: fastest, usually most accurate on large files",
  EXTRA_TREES: "Extremely randomized forest",
  LOGISTIC_REGRESSION: "Logistic regression (linear)",
};

const ALGORITHMS = `query Algorithms {
  trainingAlgorithms {
    name description inputField
    parameters { name label kind default min max choices inputChoices nullable description }
  }
}`;

const FROM_RUN = `query TrainFrom($id: ID!) {
  trainingRun(id: $id) {
    modelVersion datasetPath testSplit randomState notes algorithm
    parameters { name value }
    crossValidation { folds }
  }
}`;

// The form's own numbers: name → [label, min, max, whole number?, may be empty?]. The
// algorithm's are added from trainingAlgorithms (numberRule).
const FIXED_RULES = {
  testSplit: ["Test split", 10, 50, false, false],
  randomState: ["Random state", 0, null, true, false],
  folds: ["Cross-validation folds", 2, 10, true, true],
};

function numberRule(parameter) {
  return [parameter.label, parameter.min, parameter.max, parameter.kind === "INT", parameter.nullable];
}

/** A sentence saying what is wrong with a number field's text, or null when it is fine. */
function numberProblem(rule, text) {
  const [label, min, max, whole, optional] = rule;
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

/** A parameter's input: a select for choices and flags, else a number field. */
function parameterInput(parameter) {
  if (parameter.kind === "CHOICE") {
    return h(
      "select",
      {},
      ...parameter.choices.map((choice, i) => h("option", { value: parameter.inputChoices[i] ?? "" }, choice ?? "none")),
    );
  }
  if (parameter.kind === "BOOLEAN") {
    return h("select", {}, h("option", { value: "false" }, "off"), h("option", { value: "true" }, "on"));
  }
  return numberInput({});
}

function showValue(parameter, input, value) {
  if (parameter.kind === "CHOICE") {
    const index = parameter.choices.indexOf(value);
    input.value = index >= 0 ? (parameter.inputChoices[index] ?? "") : String(value ?? "").toUpperCase();
  } else if (parameter.kind === "BOOLEAN") {
    input.value = value === true || value === "true" ? "true" : "false";
  } else {
    input.value = value === null || value === undefined ? "" : String(value);
  }
}

function readValue(parameter, input) {
  if (parameter.kind === "CHOICE") return input.value || null;
  if (parameter.kind === "BOOLEAN") return input.value === "true";
  return numberOrNull(input);
}

export async function render(main, ctx) {
  setTitle("Train");
  const [dataset, catalogue] = await Promise.all([datasetPicker(ctx), ctx.gql(ALGORITHMS)]);
  const algorithms = new Map(catalogue.trainingAlgorithms.map((a) => [a.name, a]));
  const upload = uploadForm((path) => dataset.refresh(path));
  const inputs = {
    testSplit: numberInput({ value: "20" }),
    randomState: numberInput({ value: "42" }),
    folds: numberInput({}),
    modelVersion: h("input", { type: "text", maxlength: 64, spellcheck: "false" }),
    notes: h("textarea", { rows: 2 }),
  };
  // The recommended algorithm first; the API default stays selected.
  const order = [RECOMMENDED, ...[...algorithms.keys()].filter((name) => name !== RECOMMENDED)];
  const picker = h(
    "select#train-algorithm",
    { name: "algorithm" },
    ...order.map((name) => h("option", { value: name, selected: name === DEFAULT_ALGORITHM }, NAMES[name] || name)),
  );
  const about = h("p.small#train-algorithm-about");
  const recommend = h(
    "button.secondary#train-recommended",
    { type: "button", onclick: () => choose(RECOMMENDED) },
    "Large file? Use gradient boosting",
  );
  const parameterSet = h("fieldset.grid-fields#train-parameters", {});
  // name → { parameter, input } of the chosen algorithm, and every value typed per algorithm.
  let shown = new Map();
  const typed = {};

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
      h("legend", {}, "Algorithm"),
      field({ name: "algorithm", label: "Algorithm", input: picker }),
      h("div.field", {}, about, recommend),
    ),
    parameterSet,
    h(
      "fieldset.grid-fields",
      {},
      h("legend", {}, "Evaluation and naming"),
      field({ name: "testSplit", label: "Test split (%)", input: inputs.testSplit, hint: "10 to 50 % of the rows." }),
      field({
        name: "folds",
        label: "Cross-validation folds",
        input: inputs.folds,
        hint: "2 to 10: metrics as a mean ± std over the folds of the training rows; empty: none.",
      }),
      field({ name: "randomState", label: "Random state", input: inputs.randomState, hint: "0 or more." }),
      field({ name: "modelVersion", label: "Model version", input: inputs.modelVersion, hint: "Unique; letters, digits, '.', '_', '-' (64 at most). Empty: one is generated." }),
      field({ name: "notes", label: "Notes", input: inputs.notes }),
    ),
    formError,
    h("div.actions", {}, submit),
  );
  picker.addEventListener("change", () => choose(picker.value));
  // A field's error goes as soon as it is edited: it described what was there before.
  form.addEventListener("input", (event) => {
    const name = event.target.name;
    if (!name) return;
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = "";
    event.target.removeAttribute("aria-invalid");
  });

  /** Show the parameters of `name`, keeping what was typed for each algorithm. */
  function choose(name, values = null) {
    keepTyped();
    picker.value = name;
    const algorithm = algorithms.get(name);
    about.textContent = algorithm.description;
    recommend.hidden = name === RECOMMENDED;
    shown = new Map();
    const fields = algorithm.parameters.map((parameter) => {
      const input = parameterInput(parameter);
      const saved = values?.[parameter.name] ?? typed[name]?.[parameter.name];
      showValue(parameter, input, saved !== undefined ? saved : parameter.default);
      shown.set(parameter.name, { parameter, input });
      return field({ name: parameter.name, label: parameter.label, input, hint: parameter.description });
    });
    parameterSet.replaceChildren(h("legend", {}, NAMES[name] || name), ...fields);
  }

  function keepTyped() {
    if (!shown.size) return;
    typed[picker.value] = Object.fromEntries([...shown].map(([name, { input }]) => [name, input.value]));
  }

  append(main, h("div.heading", {}, h("h1", {}, "Train")), form, progress, upload);

  // The settings to start from: a run's (from its page), else the last ones used here.
  const from = ctx.query.get("from");
  let settings = null;
  if (from) {
    const run = (await ctx.gql(FROM_RUN, { id: from })).trainingRun;
    if (run) {
      settings = {
        algorithm: run.algorithm,
        parameters: Object.fromEntries(run.parameters.map((p) => [p.name, p.value])),
        testSplit: run.testSplit,
        randomState: run.randomState,
        folds: run.crossValidation?.folds ?? null,
        datasetPath: run.datasetPath,
        notes: run.notes || "",
      };
      form.prepend(h("p.small#train-from", {}, `Settings of run ${run.modelVersion}: change what you need and press Train.`));
    }
  } else {
    try {
      settings = JSON.parse(sessionStorage.getItem(SETTINGS_KEY) || "null");
    } catch {
      settings = null;
    }
  }
  choose(DEFAULT_ALGORITHM);
  if (settings) restore(settings);

  function restore(saved) {
    if (saved.algorithm && algorithms.has(saved.algorithm)) choose(saved.algorithm, saved.parameters || {});
    if (saved.randomState !== undefined) inputs.randomState.value = String(saved.randomState);
    if (saved.folds !== undefined) inputs.folds.value = saved.folds === null ? "" : String(saved.folds);
    if (saved.testSplit !== undefined && saved.testSplit !== null) inputs.testSplit.value = String(Math.round(saved.testSplit * 1000) / 10);
    if (saved.notes !== undefined) inputs.notes.value = saved.notes;
    if (saved.datasetPath) dataset.refresh?.(saved.datasetPath);
  }

  function remember(input, algorithm, parameters) {
    const { testSplit, randomState, notes, datasetPath } = input;
    const folds = input.evaluation?.folds ?? null;
    sessionStorage.setItem(SETTINGS_KEY, JSON.stringify({ algorithm, parameters, testSplit, randomState, folds, notes, datasetPath }));
  }

  /** Every field's problem beside it; true when there was none. */
  function checkFields() {
    let first = null;
    const rules = Object.entries(FIXED_RULES).map(([name, rule]) => [name, rule, inputs[name]]);
    for (const [name, { parameter, input }] of shown) {
      if (parameter.kind === "INT" || parameter.kind === "FLOAT") rules.push([name, numberRule(parameter), input]);
    }
    for (const [name, rule, input] of rules) {
      const message = numberProblem(rule, input.value.trim());
      if (!message) continue;
      form.querySelector(`[data-error-for="${name}"]`).textContent = message;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
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
    const algorithm = algorithms.get(picker.value);
    const parameters = Object.fromEntries([...shown].map(([name, { parameter, input }]) => [name, readValue(parameter, input)]));
    const folds = numberOrNull(inputs.folds);
    const input = {
      datasetPath: dataset.value(),
      testSplit: Math.round(numberOrNull(inputs.testSplit) * 10) / 1000,
      randomState: numberOrNull(inputs.randomState),
      modelVersion: inputs.modelVersion.value.trim() || null,
      notes: inputs.notes.value,
      model: { [algorithm.inputField]: parameters },
      ...(folds === null ? {} : { evaluation: { folds } }),
    };
    submit.disabled = true;
    try {
      const data = await ctx.gql(TRAIN, { input });
      const { trainingRun, errors } = data.trainModel;
      if (errors.length) {
        showErrors(errors);
        return;
      }
      remember(input, algorithm.name, parameters);
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
    const trees = shown.has("nEstimators") ? numberOrNull(shown.get("nEstimators").input) : null;
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

