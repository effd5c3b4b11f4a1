// A run's algorithm and its parameters as every page shows them. The API gives each run's
// settings as TrainingRun.algorithm and parameters { name value } (the value as text, null
// where the parameter is null); the labels come from Query.trainingAlgorithms, the one table
// of trainer/ml/algorithms.py, asked for in the same request as the runs. The deprecated
// `hyperparameters` described a forest only: a boosting or logistic run read as "0 trees".
import { classWeight, int, missing } from "./format.js";

/** The fields a view adds to its query, beside the runs, to label their parameters. */
export const CATALOGUE = "trainingAlgorithms { name parameters { name label kind } }";

let loaded = null;

/** The same labels on their own, asked for once per tab (they change only with the
 * server's release, and a reload asks again): the runs page, whose query is priced per row,
 * keeps them out of it. A failed or aborted load is asked for again next time. */
export function loadCatalogue(gql) {
  loaded ||= gql(`query ParameterLabels { ${CATALOGUE} }`)
    .then((data) => catalogueOf(data.trainingAlgorithms))
    .catch((error) => {
      loaded = null;
      throw error;
    });
  return loaded;
}

export const ALGORITHM_NAMES = {
  RANDOM_FOREST: "Random forest",
  HIST_GRADIENT_BOOSTING: "Gradient boosting",
  EXTRA_TREES: "Extra trees",
  LOGISTIC_REGRESSION: "Logistic regression",
};

/** An algorithm as people read it; the enum's own name for one this page does not know. */
export function algorithmName(algorithm) {
  return ALGORITHM_NAMES[algorithm] || algorithm || missing;
}

/** algorithm → parameter name → { name, label, kind }, from trainingAlgorithms. */
export function catalogueOf(trainingAlgorithms) {
  return new Map((trainingAlgorithms || []).map((algorithm) => [algorithm.name, new Map(algorithm.parameters.map((parameter) => [parameter.name, parameter]))]));
}

/** The description of `name` in the run's algorithm; undefined when it lacks it. */
export function parameterSpec(catalogue, run, name) {
  return catalogue.get(run.algorithm)?.get(name);
}

/** The run's value of `name` as the API wrote it (text, or null); undefined when the run's
 * algorithm has no such parameter (a logistic regression has no trees). */
export function parameterValue(run, name) {
  const found = (run.parameters || []).find((parameter) => parameter.name === name);
  return found ? found.value : undefined;
}

/** A number parameter's value as a number (null for null, undefined when absent), for charts. */
export function parameterNumber(run, name) {
  const value = parameterValue(run, name);
  return value === null || value === undefined ? value : Number(value);
}

/** What a value reads as: "—" when the run's algorithm lacks the parameter, "unlimited" for
 * a limit left null, "none" for no class weights, on/off for a flag. */
export function parameterText(value, spec) {
  if (value === undefined) return missing;
  if (spec?.name === "classWeight") return classWeight(value);
  if (value === null) return spec?.kind === "CHOICE" ? "none" : "unlimited";
  if (spec?.kind === "BOOLEAN") return value === "true" ? "on" : "off";
  // A float as the API wrote it: rounding would show C = 0.0001 as 0.
  if (spec?.kind === "INT") return int(Number(value));
  return String(value);
}

/** [label, text] for each parameter of the run, in its algorithm's order. */
export function parameterFacts(catalogue, run) {
  return (run.parameters || []).map((parameter) => {
    const spec = parameterSpec(catalogue, run, parameter.name);
    return [spec?.label || parameter.name, parameterText(parameter.value, spec)];
  });
}

/** The parameter's label among these runs: "Max depth"; where two algorithms use one name
 * for different things, both ("Boosting iterations / Solver iterations"). */
export function parameterLabel(catalogue, runs, name) {
  const labels = new Set();
  for (const run of runs) {
    const spec = parameterSpec(catalogue, run, name);
    if (spec) labels.add(spec.label);
  }
  return labels.size ? [...labels].join(" / ") : name;
}

/** The count of what an algorithm grows one at a time, if any: the bar's "120 of 400 trees". */
const GROWS = {
  RANDOM_FOREST: ["nEstimators", "trees"],
  EXTRA_TREES: ["nEstimators", "trees"],
  HIST_GRADIENT_BOOSTING: ["maxIter", "iterations"],
};

/** [how many, of what] the run grows (400, "trees"), or null (a linear model, or unknown). */
export function growth(run) {
  const [name, unit] = GROWS[run.algorithm] || [];
  const count = name ? parameterNumber(run, name) : null;
  return count ? [count, unit] : null;
}

/** The run's algorithm and parameters as TrainModelInput.model ({ histGradientBoosting: {...} }),
 * to train or schedule the same model again. `algorithms` is Query.trainingAlgorithms with each
 * algorithm's inputField and its parameters' kind, choices and inputChoices (a CHOICE's value
 * is written as the run stores it, "balanced", and sent as the input enum, BALANCED). */
export function modelInputOf(run, algorithms) {
  const algorithm = algorithms.find((candidate) => candidate.name === run.algorithm);
  if (!algorithm) throw new Error(`This page does not know the algorithm ${run.algorithm}.`);
  const specs = new Map(algorithm.parameters.map((parameter) => [parameter.name, parameter]));
  const values = {};
  for (const { name, value } of run.parameters || []) {
    const spec = specs.get(name);
    if (!spec) continue;
    if (value === null) values[name] = null;
    else if (spec.kind === "BOOLEAN") values[name] = value === "true";
    else if (spec.kind === "CHOICE") values[name] = spec.inputChoices[spec.choices.indexOf(value)] ?? value;
    else values[name] = Number(value);
  }
  return { [algorithm.inputField]: values };
}
