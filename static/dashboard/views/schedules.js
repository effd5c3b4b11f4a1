// Training schedules (issue 25): each schedule with what its slots start (a run or a sweep),
// its next slot and recent history (fired with its run or sweep, or skipped and why, and the
// promotion's outcome); HR staff create, pause, resume and delete. A run's page opens the
// form with that run's settings (#/schedules?from=<database id>); the train input is the
// TrainModelInput as JSON, so any field the server's input has can be set. A sweep schedule
// searches the algorithms ticked, each over its first two numeric parameters (the sweeps
// view's default ranges), with a method and a number of trials.
import { append, cards, field, h, scroller, section, setTitle, statusBadge, toast } from "../dom.js";
import { date, dateValue, timeZone } from "../format.js";
import { modelInputOf } from "../parameters.js";
import { datasetInput } from "./datasets.js";
import { gateMetricSelect } from "./gate.js";
import { defaultRange } from "./sweeps.js";

const SCHEDULES = `query Schedules {
  trainingSchedules(first: 50) {
    nodes {
      id databaseId name cron timeZone misfire paused nextRunAt createdByUsername kind train sweep
      promote { alias gate { datasetPath metric minImprovement } }
      runs(first: 1) { totalCount }
      history(first: 5) {
        slotAt outcome reason firedAt promotion promotionDetail
        run { databaseId modelVersion status }
        sweep { databaseId name status }
      }
    }
  }
}`;

const FROM_RUN = `query ScheduleFrom($id: ID!) {
  trainingRun(id: $id) {
    modelVersion datasetPath testSplit randomState notes algorithm
    parameters { name value }
  }
}`;

const CREATE = `mutation CreateSchedule($input: CreateTrainingScheduleInput!) {
  createTrainingSchedule(input: $input) {
    trainingSchedule { id name nextRunAt }
    errors { field message code }
  }
}`;

const ALGORITHMS = `query ScheduleAlgorithms {
  trainingAlgorithms {
    name inputField
    parameters { name kind default min max logScale choices inputChoices }
  }
}`;

const ACTIONS = {
  pause: `mutation PauseSchedule($id: ID!) { pauseTrainingSchedule(id: $id) { errors { message } } }`,
  resume: `mutation ResumeSchedule($id: ID!) { resumeTrainingSchedule(id: $id) { errors { message } } }`,
  delete: `mutation DeleteSchedule($id: ID!) { deleteTrainingSchedule(id: $id) { errors { message } } }`,
};

/** A run's settings as a TrainModelInput: its own algorithm and parameters. */
function trainInputOf(run, algorithms) {
  return {
    datasetPath: run.datasetPath,
    testSplit: run.testSplit,
    randomState: run.randomState,
    notes: run.notes || "",
    model: modelInputOf(run, algorithms),
  };
}

/** A sweep searching each algorithm ticked over its first two numeric parameters. */
function sweepInputOf(algorithms, chosen, method, maxTrials) {
  const space = algorithms
    .filter((algorithm) => chosen.includes(algorithm.name))
    .map((algorithm) => ({
      algorithm: algorithm.name,
      parameters: algorithm.parameters
        .filter((parameter) => parameter.kind === "INT" || parameter.kind === "FLOAT")
        .slice(0, 2)
        .map((parameter) => {
          const [min, max] = defaultRange(parameter);
          return { name: parameter.name, min, max };
        }),
    }));
  return { space, method, maxTrials };
}

function slotLine(slot) {
  const run = slot.run ? h("a", { href: `#/runs/${slot.run.databaseId}` }, slot.run.modelVersion) : null;
  const sweep = slot.sweep ? h("a", { href: `#/sweeps/${slot.sweep.databaseId}` }, `sweep ${slot.sweep.name}`) : null;
  return h(
    "li",
    { dataset: { outcome: slot.outcome } },
    dateValue(slot.slotAt),
    " · ",
    h("strong", {}, slot.outcome),
    run ? [" · ", run, " ", statusBadge(slot.run.status)] : null,
    sweep ? [" · ", sweep, " ", statusBadge(slot.sweep.status)] : null,
    slot.reason ? [" · ", slot.reason] : null,
    slot.promotion ? [" · promotion ", slot.promotion, slot.promotionDetail ? `: ${slot.promotionDetail}` : ""] : null,
  );
}

function startsLabel(schedule) {
  if (schedule.kind !== "SWEEP") return "a run";
  const sweep = schedule.sweep;
  const algorithms = sweep.space.map((entry) => entry.algorithm).join(", ");
  return `a sweep (${sweep.method}, ${sweep.maxTrials} trial${sweep.maxTrials === 1 ? "" : "s"}: ${algorithms})`;
}

function scheduleRow(schedule, ctx) {
  const act = (name, label) =>
    h("button.secondary", {
      type: "button",
      "aria-label": `${label} schedule ${schedule.name}`,
      async onclick() {
        if (name === "delete" && !confirm(`Delete the schedule ${schedule.name} and its history? Its runs stay.`)) return;
        const result = Object.values(await ctx.gql(ACTIONS[name], { id: schedule.id }))[0];
        if (result.errors.length) toast(result.errors[0].message);
        else {
          toast(`${schedule.name}: ${name === "delete" ? "deleted" : `${name}d`}.`);
          ctx.navigate(location.hash);
        }
      },
    }, label);
  return h(
    "tr",
    { dataset: { schedule: schedule.name } },
    h("th", { scope: "row" }, schedule.name),
    h("td", {}, h("code", {}, schedule.cron), ` (${schedule.timeZone})`),
    h("td", { dataset: { label: "Starts" } }, startsLabel(schedule)),
    h("td", { dataset: { label: "Next slot" } }, schedule.paused ? "paused" : dateValue(schedule.nextRunAt)),
    h("td", {}, promotesLabel(schedule.promote)),
    h("td.num", {}, String(schedule.runs.totalCount)),
    h(
      "td",
      {},
      schedule.history.length
        ? h("details", {}, h("summary", {}, `${schedule.history.length} latest slots`), h("ol.history", {}, schedule.history.map(slotLine)))
        : "no slot yet",
    ),
    ctx.user.canTrain
      ? h("td", {}, h("div.actions", {}, schedule.paused ? act("resume", "Resume") : act("pause", "Pause"), act("delete", "Delete")))
      : null,
  );
}

/** The alias a schedule promotes to, and through which gate. */
function promotesLabel(promote) {
  if (!promote) return "—";
  const gate = promote.gate;
  return gate ? `${promote.alias} (gate: ${gate.metric} on ${gate.datasetPath})` : promote.alias;
}

/** The form's promote input: none without an alias; a gate when a file is named. */
function promoteInputOf(alias, gateFile, metric) {
  if (!alias) return null;
  return gateFile ? { alias, gate: { datasetPath: gateFile, metric } } : { alias };
}

function createForm(ctx, train, algorithms) {
  const inputs = {
    kind: h("select", {}, h("option", { value: "TRAIN" }, "Train: one run"), h("option", { value: "SWEEP" }, "Sweep: a search for the best model")),
    name: h("input", { type: "text", spellcheck: "false", required: true }),
    cron: h("input", { type: "text", spellcheck: "false", value: "0 2 * * *" }),
    timeZone: h("input", { type: "text", spellcheck: "false", value: timeZone }),
    misfire: h("select", {}, h("option", { value: "RUN_ONCE" }, "Run once at start-up"), h("option", { value: "SKIP" }, "Skip")),
    promote: h("input", { type: "text", spellcheck: "false" }),
    gateMetric: gateMetricSelect(),
    train: h("textarea", { rows: 8, spellcheck: "false" }, JSON.stringify(train, null, 2)),
    method: h("select", {}, ["TPE", "RANDOM", "GRID"].map((value) => h("option", { value }, value))),
    maxTrials: h("input", { type: "number", min: "1", max: "500", value: "12" }),
  };
  const [gateFile, gateFiles] = datasetInput();
  const gatePart = h(
    "fieldset.schedule-gate",
    {},
    h("legend", {}, "Promotion gate (optional)"),
    field({ name: "gate", label: "Labelled file", input: gateFile, hint: "Move the alias only if the new model does at least as well as the alias's current one on this CSV." }),
    gateFiles,
    field({ name: "gateMetric", label: "Metric", input: inputs.gateMetric }),
  );
  const ticks = algorithms.map((algorithm, index) =>
    h("input", { type: "checkbox", value: algorithm.name, checked: index === 0, "aria-label": `Search ${algorithm.name}` }),
  );
  const trainPart = field({ name: "train", label: "Train input (TrainModelInput as JSON)", input: inputs.train, hint: "Without modelVersion: it is generated." });
  const sweepPart = h(
    "fieldset.schedule-sweep",
    {},
    h("legend", {}, "Sweep"),
    h("div.field", {}, h("p", {}, "Algorithms (each searched over its first two numeric parameters)"), ticks.map((tick) => h("label.check", {}, tick, ` ${tick.value}`))),
    field({ name: "method", label: "Method", input: inputs.method }),
    field({ name: "maxTrials", label: "Trials", input: inputs.maxTrials, hint: "1 to 500; each trial is a training run counted against your active runs." }),
    h("p.field-error", { dataset: { errorFor: "sweep" } }),
  );
  const showKind = () => {
    const sweep = inputs.kind.value === "SWEEP";
    trainPart.style.display = sweep ? "none" : "";
    sweepPart.style.display = sweep ? "" : "none";
  };
  inputs.kind.addEventListener("change", showKind);
  showKind();
  const error = h("p.error", { role: "alert" });
  const form = h(
    "form.schedule-form",
    {
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = "";
        for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
        const input = {
          name: inputs.name.value.trim(),
          cron: inputs.cron.value.trim(),
          timeZone: inputs.timeZone.value.trim() || "UTC",
          misfire: inputs.misfire.value,
          promote: promoteInputOf(inputs.promote.value.trim(), gateFile.value.trim(), inputs.gateMetric.value),
        };
        if (inputs.kind.value === "SWEEP") {
          const chosen = ticks.filter((tick) => tick.checked).map((tick) => tick.value);
          input.sweep = sweepInputOf(algorithms, chosen, inputs.method.value, Number(inputs.maxTrials.value));
        } else {
          try {
            input.train = JSON.parse(inputs.train.value || "{}");
          } catch (problem) {
            form.querySelector('[data-error-for="train"]').textContent = `Not JSON: ${problem.message}`;
            return;
          }
        }
        try {
          const result = (await ctx.gql(CREATE, { input })).createTrainingSchedule;
          if (result.errors.length) {
            for (const problem of result.errors) {
              const name = problem.field?.[1] || "";
              const slot = form.querySelector(`[data-error-for="${name}"]`) || error;
              slot.textContent = `${slot.textContent} ${problem.field?.slice(2).join(".") || ""} ${problem.message}`.trim();
            }
            return;
          }
          toast(`${result.trainingSchedule.name} created; next slot ${date(result.trainingSchedule.nextRunAt)}.`);
          ctx.navigate("#/schedules");
        } catch (failure) {
          error.textContent = failure.message;
        }
      },
    },
    field({ name: "name", label: "Name", input: inputs.name, hint: "For example nightly. Letters, digits, '.', '_', '-'; each run is <name>-<slot time>." }),
    field({ name: "cron", label: "Cron", input: inputs.cron, hint: "minute hour day month weekday; a sixth field is seconds." }),
    field({ name: "timeZone", label: "Time zone", input: inputs.timeZone, hint: "An IANA name; the cron is read there (DST included)." }),
    field({ name: "misfire", label: "A slot missed while the server was down", input: inputs.misfire }),
    field({ name: "promote", label: "Promote to alias (optional)", input: inputs.promote, hint: "For example production: moved when a run ends COMPLETED (a sweep: its best run)." }),
    gatePart,
    field({ name: "kind", label: "Each slot starts", input: inputs.kind }),
    trainPart,
    sweepPart,
    error,
    h("div.actions", {}, h("button", { type: "submit" }, "Create schedule")),
  );
  return section("New schedule", form);
}

export async function render(main, ctx) {
  setTitle("Schedules");
  const from = ctx.query.get("from");
  const [{ trainingSchedules }, fromRun, algorithms] = await Promise.all([
    ctx.gql(SCHEDULES),
    from && ctx.user.canTrain ? ctx.gql(FROM_RUN, { id: from }) : Promise.resolve(null),
    ctx.user.canTrain ? ctx.gql(ALGORITHMS).then((data) => data.trainingAlgorithms) : Promise.resolve([]),
  ]);
  const train = fromRun?.trainingRun ? trainInputOf(fromRun.trainingRun, algorithms) : { model: { randomForest: { nEstimators: 200 } } };
  const rows = trainingSchedules.nodes.map((schedule) => scheduleRow(schedule, ctx));
  append(
    main,
    h("div.heading", {}, h("h1", {}, "Schedules")),
    fromRun?.trainingRun ? h("p.small", {}, `Settings of ${fromRun.trainingRun.modelVersion}.`) : null,
    ctx.user.canTrain ? createForm(ctx, train, algorithms) : null,
    section(
      "Schedules",
      h("p.small", {}, ctx.user.canTrain ? "Each slot trains (or sweeps) as the schedule's creator." : "HR staff create and change schedules."),
      scroller(
        "Training schedules",
        cards(h(
          "table.schedules",
          {},
          h("thead", {}, h("tr", {}, ["Name", "Cron", "Starts", "Next slot", "Promotes", "Runs", "History"].map((label) => h("th", { scope: "col" }, label)), ctx.user.canTrain ? h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")) : null)),
          h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No schedule yet."))),
        )),
      ),
    ),
  );
  return null;
}
