// One run: metrics, per-class table, confusion-matrix heatmap, feature-importance bars
// (impurity and mean |SHAP|), the algorithm and its parameters, hashes, the error of a failed run; download
// and cancel for HR staff, who also edit its notes and tags here.
import { downloadFile } from "../api.js";
import { append, h, scroller, section, setTitle, statusBadge, toast, wrappable } from "../dom.js";
import { dateValue, duration, durationValue, exact, int, pct, pctValue } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";
import { CATALOGUE, algorithmName, catalogueOf, growth, parameterFacts } from "../parameters.js";
import { notesForm, tagChips } from "./tags.js";

const RUN = `query Run($id: ID!) {
  trainingRun(id: $id) {
    id databaseId modelVersion status progress stage cancelRequested errorMessage notes
    runDate startedAt finishedAt trainingDurationSeconds trainedByUsername
    accuracy precision recall f1Score
    totalSamples trainSamples testSamples droppedRows
    testSplit randomState datasetPath datasetSha256 modelPath modelSha256 featuresUsed
    algorithm parameters { name value }
    perClassMetrics { label precision recall f1Score support }
    confusionMatrix { labels matrix }
    featureImportance { feature importance }
    shapImportance { feature importance }
    shapImportanceUnits
    downloadUrl
    aliases
    tags
  }
  ${CATALOGUE}
}`;

const CANCEL = `mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) { trainingRun { id status cancelRequested } errors { field message code } }
}`;

function dl(entries) {
  return h("dl.facts", {}, entries.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))));
}

function hash(value) {
  return value ? h("code.hash", { title: value }, `${value.slice(0, 12)}…`) : "—";
}

// The share of the overall progress the server gives to growing the trees (trainer/jobs/
// job.py's FITTING span, 0.05 to 0.90): trees done = where the bar is inside that span.
const FITTING = [0.05, 0.9];

/** "3 min 2 s elapsed · 120 of 400 trees · about 7 min left" for a RUNNING run (the count
 * only when the run's algorithm grows one thing at a time and its parameters are known). */
export function runningText(run, now = Date.now()) {
  const parts = [];
  const started = run.startedAt ? Date.parse(run.startedAt) : null;
  const elapsed = started ? Math.max(0, (now - started) / 1000) : null;
  if (elapsed !== null) parts.push(`${duration(Math.round(elapsed))} elapsed`);
  // The train form passes the trees it sent (nEstimators) before the run has parameters.
  const grows = growth(run) || (run.nEstimators ? [run.nEstimators, "trees"] : null);
  if (grows && run.stage) {
    const [count, unit] = grows;
    const share = Math.min(1, Math.max(0, (run.progress - FITTING[0]) / (FITTING[1] - FITTING[0])));
    parts.push(`${int(Math.round(share * count))} of ${int(count)} ${unit}`);
  }
  if (elapsed && run.progress > 0.05 && run.progress < 1) {
    parts.push(`about ${duration(Math.round((elapsed / run.progress) * (1 - run.progress)))} left`);
  }
  return parts.join(" · ");
}

/** The blue step of a confusion-matrix cell: 0 for an empty cell, 1 to 5 by share of the
 * largest count (dashboard.css gives each step a text colour with ≥ 4.5:1 contrast). */
function step(value, max) {
  return value <= 0 ? 0 : Math.min(5, Math.max(1, Math.ceil((value / max) * 5)));
}

export function heatmap(matrix) {
  const max = Math.max(1, ...matrix.matrix.flat());
  return scroller(
    "Confusion matrix table",
    h(
      "table.heatmap",
      {},
      h("caption", {}, "Rows: true class; columns: predicted class. Darker: more test rows."),
      h("thead", {}, h("tr", {}, h("td"), matrix.labels.map((label) => h("th", { scope: "col" }, `predicted ${label}`)))),
      h(
        "tbody",
        {},
        matrix.matrix.map((cells, i) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, `true ${matrix.labels[i]}`),
            cells.map((value, j) => {
              const cell = h("td.cell", { title: `true ${matrix.labels[i]}, predicted ${matrix.labels[j]}: ${value}`, dataset: { row: i, col: j } }, String(value));
              const level = step(value, max);
              if (level) cell.classList.add(`step-${level}`);
              if (i === j) cell.classList.add("diagonal");
              return cell;
            }),
          ),
        ),
      ),
    ),
  );
}

export function importanceBars(items, label = (value) => pct(value)) {
  const max = Math.max(...items.map((item) => item.importance), 1e-9);
  return h(
    "ol.bars",
    {},
    items.map((item) => {
      const bar = h("span.bar");
      bar.style.setProperty("--share", (item.importance / max).toFixed(4));
      return h("li", {}, h("span.bar-label", {}, wrappable(item.feature)), h("span.bar-track", {}, bar), exact(label(item.importance), item.importance));
    }),
  );
}

/** Mean |SHAP| per column: the same measure as a prediction's reasons, in its units. */
function shapSection(run) {
  const units = run.shapImportanceUnits === "probability" ? "probability points" : run.shapImportanceUnits;
  return section(
    "SHAP importance",
    h("p.small", {}, `Mean |SHAP value| over the test split, in ${units}: how far each column moves a prediction on average, as the Predict page's reasons show it.`),
    importanceBars(run.shapImportance, (value) => value.toFixed(3)),
  );
}

async function download(run, button) {
  button.disabled = true;
  try {
    await downloadFile(run.downloadUrl, `${run.modelVersion}.joblib`);
    toast(`Downloaded ${run.modelVersion}.joblib`);
  } catch (error) {
    toast(`Download failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

export async function render(main, ctx) {
  const [id] = ctx.params;
  // Links name runs by their database id (#/runs/42); the API takes either kind of id.
  const data = await ctx.gql(RUN, { id });
  const run = data.trainingRun;
  const catalogue = catalogueOf(data.trainingAlgorithms);
  if (!run) {
    setTitle("Run not found");
    append(main, h("h1", {}, "Run not found"), h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
    return null;
  }
  setTitle(`Run ${run.modelVersion}`);
  let stop = null;
  let ticker = null;
  const status = h("span", {}, statusBadge(run.status));
  const progress = h("progress", { max: 100, value: Math.round(run.progress * 100), "aria-label": "Training progress" });
  const progressText = h("span.progress-text");
  const timing = h("span.small#run-timing");
  const progressBox = h("div.progress", {}, progress, progressText, timing);
  const actions = h("div.actions");
  const showProgress = () => {
    progress.value = Math.round(run.progress * 100);
    progressText.textContent = `${pct(run.progress)}${run.stage ? ` · ${run.stage.toLowerCase().replace("_", " ")}` : ""}`;
    timing.textContent = run.status === "RUNNING" ? runningText(run) : "";
    progressBox.hidden = FINAL.has(run.status);
    status.replaceChildren(statusBadge(run.status));
  };
  if (!FINAL.has(run.status)) ticker = setInterval(showProgress, 1000);
  if (ctx.user.canTrain && !FINAL.has(run.status)) {
    const cancel = h("button.danger", {
      type: "button",
      async onclick() {
        cancel.disabled = true;
        const result = await ctx.gql(CANCEL, { id: run.id });
        const errors = result.cancelTrainingRun.errors;
        toast(errors.length ? errors[0].message : "Cancellation asked for.");
      },
    }, "Cancel run");
    actions.append(cancel);
  }
  if (ctx.user.canTrain && run.downloadUrl) {
    const button = h("button", { type: "button", onclick: () => download(run, button) }, "Download model");
    actions.append(button);
  }
  if (ctx.user.canTrain) actions.append(h("a.button-link", { href: `#/train?from=${run.databaseId}` }, "Train again with these settings"));
  if (ctx.user.canTrain) actions.append(h("a.button-link", { href: `#/schedules?from=${run.databaseId}` }, "Schedule this"));
  showProgress();
  const aliases = h("span#run-aliases", {}, run.aliases?.length ? run.aliases.join(", ") : "—");
  const notes = h("span.notes#run-notes", {}, run.notes || "—");
  const tags = h("span#run-tags", {}, tagChips(run.tags));
  // A cancelled run is not an error: its message (who cancelled, when) is a plain notice.
  const ending = run.status === "CANCELLED"
    ? h("div.card.notice", { role: "status" }, h("h2", {}, "Cancelled"), h("p", {}, run.errorMessage || "This run was cancelled before it finished."))
    : run.errorMessage
      ? h("div.card.failure", { role: "alert" }, h("h2", {}, "Error"), h("pre", {}, run.errorMessage))
      : null;

  append(main, 
    h("p.crumbs", {}, h("a", { href: "#/runs" }, "← Runs")),
    h("div.heading", {}, h("h1", {}, `Run ${run.modelVersion}`), status, actions),
    progressBox,
    ending,
    h(
      "div.grid",
      {},
      section(
        "Metrics",
        dl([
          ["Accuracy", pctValue(run.accuracy)],
          ["Precision (weighted)", pctValue(run.precision)],
          ["Recall (weighted)", pctValue(run.recall)],
          ["F1 score (weighted)", pctValue(run.f1Score)],
          ["Duration", durationValue(run.trainingDurationSeconds)],
          ["Rows", `${int(run.totalSamples)} (train ${int(run.trainSamples)}, test ${int(run.testSamples)}, dropped ${int(run.droppedRows)})`],
        ]),
      ),
      section(
        "Run",
        dl([
          ["Trained by", run.trainedByUsername || "—"],
          ["Queued", dateValue(run.runDate)],
          ["Started", dateValue(run.startedAt)],
          ["Finished", dateValue(run.finishedAt)],
          ["Database id", String(run.databaseId)],
          ["Notes", notes],
          ["Tags", tags],
          ...(run.aliases ? [["Aliases", aliases]] : []),
        ]),
      ),
      section(
        "Algorithm and parameters",
        dl([
          ["Algorithm", algorithmName(run.algorithm)],
          ...parameterFacts(catalogue, run),
          ["Test split", exact(pct(run.testSplit), run.testSplit)],
          ["Random state", String(run.randomState)],
        ]),
      ),
      section(
        "Data and model",
        dl([
          ["Dataset", h("code", {}, run.datasetPath)],
          ["Dataset SHA-256", hash(run.datasetSha256)],
          ["Model file", run.modelPath ? h("code", {}, run.modelPath) : "—"],
          ["Model SHA-256", hash(run.modelSha256)],
          ["Features", run.featuresUsed ? String(run.featuresUsed.length) : "—"],
        ]),
      ),
    ),
    run.perClassMetrics
      ? section(
          "Per class",
          scroller(
            "Per-class metrics",
            h(
              "table.per-class",
              {},
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Class"), ["Precision", "Recall", "F1", "Support"].map((label) => h("th.num", { scope: "col" }, label)))),
              h(
                "tbody",
                {},
                run.perClassMetrics.map((row) =>
                  h("tr", {}, h("th", { scope: "row" }, row.label), h("td.num", {}, pctValue(row.precision)), h("td.num", {}, pctValue(row.recall)), h("td.num", {}, pctValue(row.f1Score)), h("td.num", {}, int(row.support))),
                ),
              ),
            ),
          ),
        )
      : null,
    h(
      "div.grid",
      {},
      run.confusionMatrix ? section("Confusion matrix", heatmap(run.confusionMatrix)) : null,
      run.featureImportance ? section("Feature importance", importanceBars(run.featureImportance)) : null,
      run.shapImportance ? shapSection(run) : null,
    ),
  );

  if (run.status === "COMPLETED") {
    const { evaluationPanel } = await import("./evaluations.js");
    if (ctx.signal.aborted) return null;
    append(main, evaluationPanel(run, ctx));
  }

  if (ctx.user.canTrain) {
    append(main, section("Notes and tags", notesForm(run, ctx, (saved) => {
      run.notes = saved.notes;
      run.tags = saved.tags;
      notes.textContent = saved.notes || "—";
      tags.replaceChildren(tagChips(saved.tags));
    })));
  }

  if (ctx.user.canTrain && run.status === "COMPLETED") {
    const models = await import("./models.js");
    if (ctx.signal.aborted) return null;
    append(main, models.promoteForm(run, ctx, (alias) => {
      run.aliases = [...new Set([...(run.aliases || []), alias])];
      aliases.textContent = run.aliases.join(", ");
    }));
  }

  if (!FINAL.has(run.status)) {
    stop = live.subscribe(RUN_UPDATED, { id: run.id }, {
      next(update) {
        Object.assign(run, update.trainingRunUpdated);
        showProgress();
        if (FINAL.has(run.status)) {
          // The final numbers (metrics, matrix) come with one fresh read of the page.
          ctx.navigate(location.hash);
        }
      },
    });
  }
  return () => {
    clearInterval(ticker);
    if (stop) stop();
  };
}
