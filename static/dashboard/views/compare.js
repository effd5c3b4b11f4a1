// 2 to 10 runs side by side: deltas against the first (the baseline), the best value per
// metric marked, the differing hyperparameters highlighted, per-class and importance charts.
import { gql } from "../api.js";
import { append, h, section, statusBadge } from "../dom.js";
import { chart, chartBox, PALETTE } from "../charts.js";
import { duration, exact, pct, signed } from "../format.js";

const COMPARE = `query Compare($ids: [ID!]!) {
  compareTrainingRuns(ids: $ids) {
    runs {
      id modelVersion status testSplit randomState datasetPath
      hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
    }
    metrics { metric values deltas best { id } }
    perClass { label f1Score { values deltas } }
    hyperparameterDifferences { name }
    featureImportance { feature importances }
  }
}`;

const METRICS = {
  ACCURACY: "Accuracy",
  PRECISION: "Precision",
  RECALL: "Recall",
  F1_SCORE: "F1 score",
  TRAINING_DURATION_SECONDS: "Duration",
};

const SETTINGS = [
  ["nEstimators", "Trees", (run) => run.hyperparameters.nEstimators],
  ["maxDepth", "Max depth", (run) => run.hyperparameters.maxDepth ?? "unlimited"],
  ["minSamplesSplit", "Min samples to split", (run) => run.hyperparameters.minSamplesSplit],
  ["minSamplesLeaf", "Min samples per leaf", (run) => run.hyperparameters.minSamplesLeaf],
  ["classWeight", "Class weight", (run) => run.hyperparameters.classWeight ?? "none"],
  ["testSplit", "Test split", (run) => run.testSplit],
  ["randomState", "Random state", (run) => run.randomState],
  ["datasetPath", "Dataset", (run) => run.datasetPath],
];

function pickHelp(main) {
  append(main, 
    h("h1", {}, "Compare runs"),
    h("p", {}, "Tick 2 to 10 runs in the ", h("a", { href: "#/runs" }, "runs table"), " and press Compare."),
  );
}

export async function render(main, ctx) {
  const ids = (ctx.query.get("ids") || "").split(",").filter(Boolean);
  if (ids.length < 2) {
    pickHelp(main);
    return null;
  }
  const { compareTrainingRuns: comparison } = await gql(COMPARE, { ids });
  const runs = comparison.runs;
  const header = (first) => h(
    "tr",
    {},
    h("th", { scope: "col" }, first),
    runs.map((run, index) =>
      h("th", { scope: "col" }, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.modelVersion), index === 0 ? h("span.small", {}, " (baseline)") : null, h("br"), statusBadge(run.status)),
    ),
  );
  const metricRows = comparison.metrics.map((row) => {
    const isDuration = row.metric === "TRAINING_DURATION_SECONDS";
    const format = isDuration ? duration : pct;
    return h(
      "tr",
      { dataset: { metric: row.metric } },
      h("th", { scope: "row" }, METRICS[row.metric] || row.metric, isDuration ? h("span.small", {}, " (lower is better)") : null),
      row.values.map((value, index) => {
        const best = row.best && row.best.id === runs[index].id;
        return h(
          `td.num${best ? ".best" : ""}`,
          {},
          exact(format(value), value),
          best ? h("span.best-mark", {}, " ★ best") : null,
          index > 0 ? h("div.delta", { title: row.deltas[index] === null ? undefined : String(row.deltas[index]) }, signed(row.deltas[index], format)) : null,
        );
      }),
    );
  });
  const differing = new Set(comparison.hyperparameterDifferences.map((difference) => difference.name));
  const settingRows = SETTINGS.map(([name, label, value]) =>
    h(
      `tr${differing.has(name) ? ".differs" : ""}`,
      { dataset: { setting: name } },
      h("th", { scope: "row" }, label, differing.has(name) ? h("span.differs-mark", {}, " ≠ differs") : null),
      runs.map((run) => h("td", {}, String(value(run)))),
    ),
  );

  const perClass = chartBox("F1 score per class and run");
  const importance = chartBox("Feature importance per run", "chart tall");
  append(main, 
    h("p.crumbs", {}, h("a", { href: "#/runs" }, "← Runs")),
    h("h1", {}, `Compare ${runs.length} runs`),
    section("Metrics", h("div.table-scroll", {}, h("table.compare", {}, h("thead", {}, header("Metric")), h("tbody", {}, metricRows)))),
    section(
      "Hyperparameters",
      h("p.small", {}, differing.size ? `${differing.size} setting(s) differ, marked ≠.` : "All settings agree."),
      h("div.table-scroll", {}, h("table.compare.settings", {}, h("thead", {}, header("Setting")), h("tbody", {}, settingRows))),
    ),
    h("div.grid", {}, section("F1 score per class", perClass.box), section("Feature importance", importance.box)),
  );
  const datasets = (values) =>
    runs.map((run, index) => ({ label: run.modelVersion, data: values(index), backgroundColor: PALETTE[index % PALETTE.length] }));
  chart(perClass.canvas, {
    type: "bar",
    data: { labels: comparison.perClass.map((row) => row.label), datasets: datasets((index) => comparison.perClass.map((row) => row.f1Score.values[index])) },
    options: { scales: { y: { min: 0, max: 1, ticks: { format: { style: "percent" } } } } },
  });
  const features = comparison.featureImportance.slice(0, 12);
  chart(importance.canvas, {
    type: "bar",
    data: { labels: features.map((row) => row.feature), datasets: datasets((index) => features.map((row) => row.importances[index])) },
    options: { indexAxis: "y", scales: { x: { ticks: { format: { style: "percent" } } } } },
  });
  return null;
}
