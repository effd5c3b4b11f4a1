// Sweeps (issue 23): the list, a start form built from trainingAlgorithms (each parameter
// searched over a sensible default range, or its choices), and a sweep's page: live counts
// and trials (sweepUpdated), the best value after each trial, objective against each
// parameter, Optuna's parameter importance, cancel, and "Promote best run".
import { append, cards, field, h, problem, scroller, section, setTitle, statusBadge, toast } from "../dom.js";
import { chart, chartBox } from "../charts.js";
import { date, num } from "../format.js";
import { live } from "../live.js";
import { algorithmName } from "../parameters.js";
import { promoteForm } from "./models.js";

const ALGORITHMS = `query SweepAlgorithms {
  trainingAlgorithms { name description parameters { name kind default min max choices logScale description } }
}`;

const LIST = `query Sweeps { sweeps(first: 50) { nodes {
  id databaseId name status method objective bestValue createdAt
  trialCounts { finished total }
} } }`;

const START = `mutation StartSweep($input: StartSweepInput!) {
  startSweep(input: $input) { sweep { id databaseId } errors { field message code } }
}`;

const CANCEL = `mutation CancelSweep($id: ID!) {
  cancelSweep(id: $id) { sweep { status } errors { message code } }
}`;

const SWEEP = `query Sweep($id: ID!) { sweep(id: $id) {
  id databaseId name status method pruning objective maxTrials parallelism errorMessage
  input bestValue createdAt startedAt finishedAt createdByUsername
  trialCounts { queued running completed pruned failed cancelled finished total }
  bestRun { id databaseId modelVersion status objectiveValue accuracy f1Score }
  bestValueHistory { trial runId value }
  parameterImportance { parameter importance }
  trials(first: 100) { nodes {
    id databaseId modelVersion status trialNumber pruned objectiveValue accuracy f1Score
    trainingDurationSeconds algorithm parameters { name value }
  } }
} }`;

const FOLLOW = `subscription FollowSweep($id: ID!) { sweepUpdated(id: $id) { status trialCounts { finished } bestValue } }`;

const OBJECTIVES = ["F1_SCORE", "ACCURACY", "PRECISION", "RECALL", "TRAINING_DURATION_SECONDS"];

/** A range worth searching around a parameter's default, inside its allowed bounds. */
export function defaultRange(parameter) {
  const low = parameter.min ?? 0;
  const high = parameter.max ?? null;
  const start = typeof parameter.default === "number" ? parameter.default : null;
  let from;
  let to;
  if (start === null) {
    from = Math.max(low, 1);
    to = Math.min(high ?? 30, 30);
  } else if (start === 0) {
    from = low;
    to = Math.min(high ?? 1, 1);
  } else {
    from = Math.max(low, start / 4);
    to = Math.min(high ?? start * 4, start * 4);
  }
  if (parameter.kind === "INT") {
    from = Math.max(Math.ceil(from), Math.ceil(low));
    to = Math.max(Math.floor(to), from);
  }
  return [from, to];
}

export async function render(main, ctx) {
  if (ctx.params[0]) return renderSweep(main, ctx, ctx.params[0]);
  setTitle("Sweeps");
  append(main, h("div.heading", {}, h("h1", {}, "Sweeps")));
  const listBox = h("div");
  append(main, section("Sweeps", listBox));
  if (ctx.user.canTrain) append(main, await startForm(ctx));
  try {
    const sweeps = (await ctx.gql(LIST)).sweeps.nodes;
    listBox.append(
      scroller(
        "Sweeps",
        cards(h(
          "table.sweeps",
          {},
          h("thead", {}, h("tr", {}, ["Sweep", "Status", "Method", "Trials", "Best", "Started"].map((label) => h("th", { scope: "col" }, label)))),
          h(
            "tbody",
            {},
            sweeps.length
              ? sweeps.map((sweep) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, h("a", { href: `#/sweeps/${sweep.databaseId}` }, sweep.name)),
                    h("td", {}, statusBadge(sweep.status)),
                    h("td", {}, sweep.method),
                    h("td.num", {}, `${sweep.trialCounts.finished} / ${sweep.trialCounts.total}`),
                    h("td.num", {}, num(sweep.bestValue)),
                    h("td", {}, date(sweep.createdAt)),
                  ),
                )
              : h("tr", {}, h("td", { colspan: 6 }, "No sweep yet.")),
          ),
        )),
      ),
    );
  } catch (failure) {
    listBox.append(problem(failure));
  }
  return null;
}

async function startForm(ctx) {
  const algorithms = (await ctx.gql(ALGORITHMS)).trainingAlgorithms;
  const name = h("input", { type: "text", value: "" });
  const dataset = h("input", { type: "text", value: "future_skills_dataset.csv", spellcheck: "false" });
  const algorithm = h("select", {}, algorithms.map((a) => h("option", { value: a.name, selected: a.name === "HIST_GRADIENT_BOOSTING" }, a.name)));
  const method = h("select", {}, ["TPE", "RANDOM", "GRID"].map((value) => h("option", { value }, value)));
  const pruning = h("select", {}, ["NONE", "MEDIAN", "HYPERBAND"].map((value) => h("option", { value }, value)));
  const objective = h("select", {}, OBJECTIVES.map((value) => h("option", { value }, value.toLowerCase().replaceAll("_", " "))));
  const maxTrials = h("input", { type: "number", min: "1", max: "500", value: "12" });
  const parallelism = h("input", { type: "number", min: "1", max: "32", value: "2" });
  const budget = h("input", { type: "number", min: "1", step: "1", value: "" });
  const space = h("fieldset.space", {}, h("legend", {}, "Search space"));
  const error = h("div", { role: "alert" });

  function drawSpace() {
    const spec = algorithms.find((a) => a.name === algorithm.value);
    space.replaceChildren(h("legend", {}, `Search space (${spec.name})`), h("p.hint", {}, spec.description));
    let searched = 0;
    for (const parameter of spec.parameters) {
      const row = h("div.space-row", { dataset: { parameter: parameter.name } });
      const on = h("input", { type: "checkbox", checked: false, "aria-label": `Search ${parameter.name}` });
      row.append(h("label.check", {}, on, ` ${parameter.name}`));
      if (parameter.kind === "INT" || parameter.kind === "FLOAT") {
        const [from, to] = defaultRange(parameter);
        on.checked = searched < 2;
        searched += on.checked ? 1 : 0;
        const step = parameter.kind === "INT" ? "1" : "any";
        row.append(
          h("input.min", { type: "number", step, value: String(from), "aria-label": `${parameter.name} from` }),
          h("input.max", { type: "number", step, value: String(to), "aria-label": `${parameter.name} to` }),
          h("span.hint", {}, parameter.logScale ? " log scale" : ""),
        );
      } else {
        const choices = parameter.kind === "BOOLEAN" ? ["true", "false"] : parameter.choices;
        row.append(h("input.choices", { type: "text", value: choices.map((c) => c ?? "null").join(", "), "aria-label": `${parameter.name} choices` }));
      }
      row.append(h("p.hint", {}, parameter.description), h("p.field-error", { dataset: { errorFor: `space-${parameter.name}` } }));
      space.append(row);
    }
  }

  function spaceInput() {
    const parameters = [];
    for (const row of space.querySelectorAll(".space-row")) {
      if (!row.querySelector("input[type=checkbox]").checked) continue;
      const choices = row.querySelector("input.choices");
      if (choices) {
        parameters.push({ name: row.dataset.parameter, choices: choices.value.split(",").map((c) => c.trim()).map((c) => (c === "null" ? null : c)) });
      } else {
        parameters.push({ name: row.dataset.parameter, min: Number(row.querySelector("input.min").value), max: Number(row.querySelector("input.max").value) });
      }
    }
    return [{ algorithm: algorithm.value, parameters }];
  }

  algorithm.addEventListener("change", drawSpace);
  drawSpace();
  const form = h(
    "form.card.sweep-form",
    {
      "aria-label": "Start a sweep",
      async onsubmit(event) {
        event.preventDefault();
        error.replaceChildren();
        for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
        const input = {
          name: name.value.trim() || null,
          datasetPath: dataset.value.trim(),
          method: method.value,
          pruning: pruning.value,
          objective: objective.value,
          maxTrials: Number(maxTrials.value),
          parallelism: Number(parallelism.value),
          timeBudgetSeconds: budget.value ? Number(budget.value) : null,
          space: spaceInput(),
        };
        try {
          const result = (await ctx.gql(START, { input })).startSweep;
          if (result.errors.length) {
            error.append(h("ul.problem", {}, result.errors.map((e) => h("li", {}, `${e.field.join(".")}: ${e.message} (${e.code})`))));
            return;
          }
          toast("Sweep started.");
          ctx.navigate(`#/sweeps/${result.sweep.databaseId}`);
        } catch (failure) {
          error.append(problem(failure));
        }
      },
    },
    h("h2", {}, "Start a sweep"),
    h(
      "div.grid",
      {},
      field({ name: "name", label: "Name", input: name, hint: "Optional." }),
      field({ name: "datasetPath", label: "Dataset", input: dataset }),
      field({ name: "algorithm", label: "Algorithm", input: algorithm }),
      field({ name: "objective", label: "Objective", input: objective, hint: "Measured on validation rows, never the test split." }),
      field({ name: "method", label: "Method", input: method, hint: "TPE learns from finished trials; GRID tries every point." }),
      field({ name: "pruning", label: "Pruning", input: pruning, hint: "Stop weak trials early as the model grows." }),
      field({ name: "maxTrials", label: "Trials", input: maxTrials }),
      field({ name: "parallelism", label: "Parallel trials", input: parallelism }),
      field({ name: "timeBudgetSeconds", label: "Time budget (s)", input: budget, hint: "Optional." }),
    ),
    space,
    error,
    h("div.actions", {}, h("button", { type: "submit" }, "Start sweep")),
  );
  return form;
}

async function renderSweep(main, ctx, id) {
  setTitle(`Sweep ${id}`);
  const charts = [];
  const body = h("div");
  append(main, h("div.heading", {}, h("h1", {}, `Sweep ${id}`), h("a", { href: "#/sweeps" }, "All sweeps")), body);
  let stop = null;

  async function load() {
    let sweep;
    try {
      sweep = (await ctx.gql(SWEEP, { id })).sweep;
    } catch (failure) {
      body.replaceChildren(problem(failure, load) || "");
      return null;
    }
    for (const instance of charts.splice(0)) instance?.destroy();
    if (!sweep) {
      body.replaceChildren(h("p", {}, "No such sweep."));
      return null;
    }
    draw(sweep);
    return sweep;
  }

  function draw(sweep) {
    main.dataset.status = sweep.status;
    main.dataset.finished = String(sweep.trialCounts.finished);
    const counts = sweep.trialCounts;
    const summary = h(
      "dl.facts",
      {},
      [
        ["Status", statusBadge(sweep.status)],
        ["Name", sweep.name],
        ["Method", `${sweep.method}, pruning ${sweep.pruning}`],
        ["Objective", sweep.objective.toLowerCase().replaceAll("_", " ")],
        ["Trials", `${counts.finished} finished of ${sweep.maxTrials} (${counts.completed} completed, ${counts.pruned} pruned, ${counts.failed} failed, ${counts.running} running)`],
        ["Best value", num(sweep.bestValue)],
        ["Started by", sweep.createdByUsername || "—"],
      ].flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    );
    const parts = [section("Summary", summary, sweep.errorMessage ? h("p.problem", {}, sweep.errorMessage) : null)];
    if (ctx.user.canTrain && ["QUEUED", "RUNNING"].includes(sweep.status)) {
      parts.push(
        h("div.actions", {}, h("button.secondary", {
          type: "button",
          async onclick() {
            const result = (await ctx.gql(CANCEL, { id: sweep.id })).cancelSweep;
            toast(result.errors.length ? result.errors[0].message : "Sweep cancelled.");
            await load();
          },
        }, "Cancel sweep")),
      );
    }
    if (sweep.bestRun && ctx.user.canTrain) {
      parts.push(promoteForm(sweep.bestRun, ctx, () => {}));
      parts[parts.length - 1].querySelector("h2").textContent = `Promote best run (${sweep.bestRun.modelVersion})`;
    }
    const best = chartBox("Best objective value after each finished trial");
    const importance = chartBox("Parameter importance");
    // parameters come as [{name, value}] text: numbers read back as numbers for the charts.
    const trials = sweep.trials.nodes.map((trial) => ({
      ...trial,
      parameters: Object.fromEntries((trial.parameters || []).map(({ name, value }) => [name, value !== null && value !== "" && !Number.isNaN(Number(value)) ? Number(value) : value])),
    }));
    const parameters = [...new Set(trials.flatMap((t) => Object.keys(t.parameters || {})))].filter((p) => trials.some((t) => typeof t.parameters?.[p] === "number"));
    const varied = parameters.filter((p) => new Set(trials.map((t) => t.parameters?.[p])).size > 1);
    const scatters = varied.map((p) => ({ name: p, ...chartBox(`Objective against ${p}`) }));
    parts.push(
      h("div.grid", {}, section("Best so far", best.box), section("Parameter importance", sweep.parameterImportance ? importance.box : h("p.hint", {}, "After two completed trials."))),
      scatters.length ? section("Objective against each parameter", h("div.grid", {}, scatters.map((s) => h("div", {}, h("h3", {}, s.name), s.box)))) : null,
      section("Trials", trialsTable(trials, searched(sweep))),
    );
    body.replaceChildren(...parts.filter(Boolean));
    charts.push(
      chart(best.canvas, {
        type: "line",
        data: { labels: sweep.bestValueHistory.map((_, index) => index + 1), datasets: [{ label: "Best so far", data: sweep.bestValueHistory.map((entry) => entry.value), borderColor: "#2563eb", stepped: true }] },
        options: { scales: { x: { title: { display: true, text: "Finished trials" } } } },
      }),
    );
    if (sweep.parameterImportance) {
      charts.push(
        chart(importance.canvas, {
          type: "bar",
          data: { labels: sweep.parameterImportance.map((p) => p.parameter), datasets: [{ label: "Importance", data: sweep.parameterImportance.map((p) => p.importance), backgroundColor: "#d97706" }] },
          options: { indexAxis: "y" },
        }),
      );
    }
    for (const scatter of scatters) {
      const points = trials.filter((t) => t.objectiveValue !== null && typeof t.parameters?.[scatter.name] === "number").map((t) => ({ x: t.parameters[scatter.name], y: t.objectiveValue }));
      charts.push(chart(scatter.canvas, { type: "scatter", data: { datasets: [{ label: "Trials", data: points, backgroundColor: "#059669" }] }, options: { scales: { x: { title: { display: true, text: scatter.name } } } } }));
    }
  }

  const sweep = await load();
  if (sweep && ["QUEUED", "RUNNING"].includes(sweep.status)) {
    stop = live.subscribe(FOLLOW, { id: sweep.id }, { next: () => load(), error: () => {}, complete: () => load() });
  }
  return () => {
    stop?.();
    for (const instance of charts) instance?.destroy();
  };
}

/** The searched parameters, by the names trials give them: the sweep's input names them as
 * scikit-learn does (learning_rate), a run's parameters as the API does (learningRate). */
function searched(sweep) {
  const camel = (name) => name.replace(/_([a-z0-9])/g, (_, letter) => letter.toUpperCase());
  return [...new Set((sweep.input?.space || []).flatMap((entry) => (entry.parameters || []).map((p) => camel(p.name))))];
}

/** A trial's setting as the table shows it: numbers to 4 significant digits. */
function setting(value) {
  return typeof value === "number" && !Number.isInteger(value) ? String(Number(value.toPrecision(4))) : String(value);
}

function trialsTable(trials, names) {
  const several = new Set(trials.map((trial) => trial.algorithm)).size > 1;
  const ordered = [...trials].sort((a, b) => a.trialNumber - b.trialNumber);
  return scroller(
    "Trials",
    h(
      "table.trials",
      {},
      h("thead", {}, h("tr", {}, ["#", "Run", "Status", "Objective", "Accuracy", "Searched parameters"].map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        ordered.map((trial) =>
          h(
            "tr",
            { dataset: { status: trial.status, pruned: String(trial.pruned) } },
            h("td.num", {}, String(trial.trialNumber)),
            h("th", { scope: "row" }, h("a", { href: `#/runs/${trial.databaseId}` }, trial.modelVersion)),
            h("td", {}, trial.pruned ? h("span.badge.status-cancelled", {}, "✂ PRUNED") : statusBadge(trial.status)),
            h("td.num", {}, num(trial.objectiveValue)),
            h("td.num", {}, num(trial.accuracy)),
            // One line each, only what the sweep searched: every parameter of the
            // algorithm on one wrapped line made each row ten lines tall on a phone.
            h(
              "td",
              {},
              several ? h("div.parameter", {}, algorithmName(trial.algorithm)) : null,
              names.filter((name) => trial.parameters?.[name] != null).map((name) => h("div.parameter", {}, `${name} = ${setting(trial.parameters[name])}`)),
            ),
          ),
        ),
      ),
    ),
  );
}
