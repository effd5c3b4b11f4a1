// One run: metrics, per-class table, confusion-matrix heatmap, feature-importance bars,
// hyperparameters, hashes, the error of a failed run; download and cancel for HR staff.
import { authHeaders, gql } from "../api.js";
import { append, h, section, statusBadge, toast } from "../dom.js";
import { dateValue, durationValue, exact, int, pct, pctValue } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";

function runQuery(ctx) {
  return `query Run($id: ID!) {
  trainingRun(id: $id) {
    id databaseId modelVersion status progress stage cancelRequested errorMessage notes
    runDate startedAt finishedAt trainingDurationSeconds trainedByUsername
    accuracy precision recall f1Score
    totalSamples trainSamples testSamples droppedRows
    testSplit randomState datasetPath datasetSha256 modelPath modelSha256 featuresUsed
    hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
    perClassMetrics { label precision recall f1Score support }
    confusionMatrix { labels matrix }
    featureImportance { feature importance }
    downloadUrl${ctx.caps.runAliases ? "\n    aliases" : ""}
  }
}`;
}

const CANCEL = `mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) { trainingRun { id status cancelRequested } errors { field message code } }
}`;

function dl(entries) {
  return h("dl.facts", {}, entries.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))));
}

function hash(value) {
  return value ? h("code.hash", { title: value }, `${value.slice(0, 12)}…`) : "—";
}

export function heatmap(matrix) {
  const max = Math.max(1, ...matrix.matrix.flat());
  return h(
    "div.table-scroll",
    {},
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
              const strength = value / max;
              cell.style.setProperty("--strength", strength.toFixed(3));
              if (strength > 0.55) cell.classList.add("dark");
              if (i === j) cell.classList.add("diagonal");
              return cell;
            }),
          ),
        ),
      ),
    ),
  );
}

export function importanceBars(items) {
  const max = Math.max(...items.map((item) => item.importance), 1e-9);
  return h(
    "ol.bars",
    {},
    items.map((item) => {
      const bar = h("span.bar");
      bar.style.setProperty("--share", (item.importance / max).toFixed(4));
      return h("li", {}, h("span.bar-label", {}, item.feature), h("span.bar-track", {}, bar), exact(pct(item.importance), item.importance));
    }),
  );
}

async function download(run, button) {
  button.disabled = true;
  try {
    const response = await fetch(run.downloadUrl, { headers: authHeaders() });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        message = (await response.json()).errors?.[0]?.message || message;
      } catch {
        // not JSON
      }
      throw new Error(message);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `${run.modelVersion}.joblib` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    toast(`Downloaded ${run.modelVersion}.joblib`);
  } catch (error) {
    toast(`Download failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

export async function render(main, ctx) {
  const [id] = ctx.params;
  const data = await gql(runQuery(ctx), { id });
  const run = data.trainingRun;
  if (!run) {
    append(main, h("h1", {}, "Run not found"), h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
    return null;
  }
  let stop = null;
  const status = h("span", {}, statusBadge(run.status));
  const progress = h("progress", { max: 100, value: Math.round(run.progress * 100), "aria-label": "Training progress" });
  const progressText = h("span.progress-text");
  const progressBox = h("div.progress", {}, progress, progressText);
  const actions = h("div.actions");
  const showProgress = () => {
    progress.value = Math.round(run.progress * 100);
    progressText.textContent = `${pct(run.progress)}${run.stage ? ` · ${run.stage}` : ""}`;
    progressBox.hidden = FINAL.has(run.status);
    status.replaceChildren(statusBadge(run.status));
  };
  if (ctx.user.canTrain && !FINAL.has(run.status)) {
    const cancel = h("button.danger", {
      type: "button",
      async onclick() {
        cancel.disabled = true;
        const result = await gql(CANCEL, { id: run.id });
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
  showProgress();

  append(main, 
    h("p.crumbs", {}, h("a", { href: "#/runs" }, "← Runs")),
    h("div.heading", {}, h("h1", {}, `Run ${run.modelVersion}`), status, actions),
    progressBox,
    run.errorMessage ? h("div.card.failure", { role: "alert" }, h("h2", {}, "Error"), h("pre", {}, run.errorMessage)) : null,
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
          ["Notes", run.notes || "—"],
          ...(run.aliases ? [["Aliases", run.aliases.length ? run.aliases.join(", ") : "—"]] : []),
        ]),
      ),
      section(
        "Hyperparameters",
        dl([
          ["Trees (nEstimators)", String(run.hyperparameters.nEstimators)],
          ["Max depth", run.hyperparameters.maxDepth === null ? "unlimited" : String(run.hyperparameters.maxDepth)],
          ["Min samples to split", String(run.hyperparameters.minSamplesSplit)],
          ["Min samples per leaf", String(run.hyperparameters.minSamplesLeaf)],
          ["Class weight", run.hyperparameters.classWeight || "none"],
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
          h(
            "div.table-scroll",
            {},
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
    ),
  );

  if (ctx.caps.modelAliases && ctx.user.canTrain && run.status === "COMPLETED") {
    const models = await import("./models.js");
    append(main, models.promoteForm(run));
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
  return () => stop && stop();
}
