// 2 to 10 runs side by side (#/compare?ids=3,7&baseline=7, database ids): deltas against
// a baseline the user chooses (a FAILED run has no metrics, so it is never the baseline
// unless asked for, and then the page says why no delta shows), the best value per metric
// marked, the differing settings highlighted (the algorithm, then every parameter of any
// compared run's algorithm, "—" where a run's algorithm lacks it), "show only differences", and four charts,
// each with its data table: F1 per class, feature importance, a metric against a setting,
// and parallel coordinates of settings and metrics.
import { append, field, h, scroller, section, setTitle, statusBadge } from "../dom.js";
import { chart, chartBox, PALETTE } from "../charts.js";
import { duration, exact, pct, pp, signed } from "../format.js";
import { CATALOGUE, algorithmName, catalogueOf, parameterLabel, parameterNumber, parameterSpec, parameterText, parameterValue } from "../parameters.js";

const COMPARE = `query Compare($ids: [ID!]!) {
  compareTrainingRuns(ids: $ids) {
    runs {
      id databaseId modelVersion status testSplit randomState datasetPath
      accuracy f1Score precision recall trainingDurationSeconds
      algorithm parameters { name value }
    }
    metrics { metric values deltas best { id } }
    perClass { label f1Score { values deltas } }
    hyperparameterDifferences { name }
    featureImportance { feature importances }
  }
  ${CATALOGUE}
}`;

const METRICS = {
  ACCURACY: "Accuracy",
  PRECISION: "Precision",
  RECALL: "Recall",
  F1_SCORE: "F1 score",
  TRAINING_DURATION_SECONDS: "Duration",
};

/** The settings rows, named as hyperparameterDifferences names them: the algorithm, every
 * parameter of any compared run's algorithm (in the order the runs give them), then the
 * split, seed and dataset. Each: [name, label, text of a run's value, number of it or null
 * (numeric settings only: the scatter's and parallel coordinates' axes)]. A number is null
 * for a limit left unlimited, undefined where the run's algorithm has no such parameter. */
function settingsOf(runs, catalogue) {
  const names = [...new Set(runs.flatMap((run) => run.parameters.map((parameter) => parameter.name)))];
  const numeric = (name) => runs.some((run) => ["INT", "FLOAT"].includes(parameterSpec(catalogue, run, name)?.kind));
  return [
    ["algorithm", "Algorithm", (run) => algorithmName(run.algorithm), null],
    ...names.map((name) => [
      name,
      parameterLabel(catalogue, runs, name),
      (run) => parameterText(parameterValue(run, name), parameterSpec(catalogue, run, name)),
      numeric(name) ? (run) => parameterNumber(run, name) : null,
    ]),
    ["testSplit", "Test split", (run) => pct(run.testSplit), (run) => run.testSplit],
    ["randomState", "Random state", (run) => String(run.randomState), (run) => run.randomState],
    ["datasetPath", "Dataset", (run) => run.datasetPath, null],
  ];
}
const NUMERIC_METRICS = [
  ["accuracy", "Accuracy", pct],
  ["f1Score", "F1 score", pct],
  ["precision", "Precision", pct],
  ["recall", "Recall", pct],
  ["trainingDurationSeconds", "Duration", duration],
];

function pickHelp(main) {
  setTitle("Compare");
  append(main, h("h1", {}, "Compare runs"), h("p", {}, "Tick 2 to 10 runs in the ", h("a", { href: "#/runs" }, "runs table"), " and press Compare."));
}

/** A chart's numbers as a table (in a disclosure under the chart). */
function dataTable(label, columns, rows) {
  return h(
    "details.chart-data",
    {},
    h("summary", {}, `Data table: ${label}`),
    scroller(
      `Data table: ${label}`,
      h(
        "table.chart-table",
        {},
        h("thead", {}, h("tr", {}, columns.map((column, index) => h("th", { scope: "col", class: index ? "num" : undefined }, column)))),
        h("tbody", {}, rows.map(([head, ...cells]) => h("tr", {}, h("th", { scope: "row" }, head), cells.map((cell) => h("td.num", {}, cell))))),
      ),
    ),
  );
}

export async function render(main, ctx) {
  const asked = (ctx.query.get("ids") || "").split(",").filter(Boolean);
  if (asked.length < 2) {
    pickHelp(main);
    return null;
  }
  const chosen = ctx.query.get("baseline");
  const order = (baseline) => [baseline, ...asked.filter((id) => id !== baseline)];
  const answer = await ctx.gql(COMPARE, { ids: chosen && asked.includes(chosen) ? order(chosen) : asked });
  const catalogue = catalogueOf(answer.trainingAlgorithms);
  let comparison = answer.compareTrainingRuns;
  let note = null;
  // The API compares against the first run; a run without metrics there would make every
  // delta "—". Unless the user chose it, the first run with metrics becomes the baseline.
  const first = comparison.runs[0];
  if (!chosen && first.accuracy === null) {
    const usable = comparison.runs.find((run) => run.accuracy !== null);
    if (usable) {
      comparison = (await ctx.gql(COMPARE, { ids: order(String(usable.databaseId)) })).compareTrainingRuns;
      note = `${first.modelVersion} is ${first.status.toLowerCase()} and has no metrics, so ${usable.modelVersion} is the baseline. Choose another below.`;
    }
  } else if (first.accuracy === null) {
    note = `The baseline ${first.modelVersion} is ${first.status.toLowerCase()} and has no metrics, so no difference can be shown: choose a completed run as the baseline.`;
  }
  const runs = comparison.runs;
  const baseline = runs[0];
  const settings = settingsOf(runs, catalogue);
  const numericSettings = settings.filter(([, , , number]) => number);
  setTitle(`Compare ${runs.length} runs`);

  const header = (label) =>
    h(
      "tr",
      {},
      h("th", { scope: "col" }, label),
      runs.map((run, index) =>
        h("th", { scope: "col" }, h("a", { href: `#/runs/${run.databaseId}` }, run.modelVersion), index === 0 ? h("span.small", {}, " (baseline)") : null, h("br"), statusBadge(run.status)),
      ),
    );
  const metricRows = comparison.metrics.map((row) => {
    const isDuration = row.metric === "TRAINING_DURATION_SECONDS";
    const format = isDuration ? duration : pct;
    // Metrics are fractions shown as percentages: their differences are percentage points.
    const difference = isDuration ? (value) => signed(value, duration) : pp;
    const same = new Set(row.values.map(String)).size === 1;
    return h(
      `tr${same ? ".same" : ""}`,
      { dataset: { metric: row.metric } },
      h("th", { scope: "row" }, METRICS[row.metric] || row.metric, isDuration ? h("span.small", {}, " (lower is better)") : null),
      row.values.map((value, index) => {
        const best = row.best && row.best.id === runs[index].id;
        return h(
          `td.num${best ? ".best" : ""}`,
          {},
          exact(format(value), value),
          best ? h("span.best-mark", {}, " ★ best") : null,
          index > 0 ? h("div.delta", { title: row.deltas[index] === null ? undefined : String(row.deltas[index]) }, difference(row.deltas[index]), row.deltas[index] === null ? "" : " vs baseline") : null,
        );
      }),
    );
  });
  const differing = new Set(comparison.hyperparameterDifferences.map((difference) => difference.name));
  const settingRows = settings.map(([name, label, text]) =>
    h(
      `tr${differing.has(name) ? ".differs" : ".same"}`,
      { dataset: { setting: name } },
      h("th", { scope: "row" }, label, differing.has(name) ? h("span.differs-mark", {}, " ≠ differs") : null),
      runs.map((run) => h("td", {}, text(run))),
    ),
  );

  const baselinePicker = h(
    "select",
    {
      onchange() {
        ctx.navigate(`#/compare?ids=${asked.join(",")}&baseline=${baselinePicker.value}`);
      },
    },
    runs.map((run) => h("option", { value: String(run.databaseId), selected: run === baseline }, `${run.modelVersion} (${run.status.toLowerCase()})`)),
  );
  const onlyDifferences = h("input", {
    type: "checkbox",
    onchange() {
      for (const row of main.querySelectorAll("table.compare tr.same")) row.hidden = onlyDifferences.checked;
    },
  });

  const perClass = chartBox("F1 score per class and run");
  const importance = chartBox("Feature importance per run", "chart tall");
  const scatter = chartBox("A metric against a setting, one point per run");
  const parallel = chartBox("Parallel coordinates: settings and metrics of each run, each axis scaled from its lowest to its highest value", "chart tall");
  const scatterMetric = h("select", {}, NUMERIC_METRICS.map(([key, label]) => h("option", { value: key }, label)));
  const firstDiffering = numericSettings.find(([name]) => differing.has(name))?.[0];
  const scatterSetting = h("select", {}, numericSettings.map(([name, label]) => h("option", { value: name, selected: name === firstDiffering }, label)));
  const scatterTable = h("div");

  append(
    main,
    h("p.crumbs", {}, h("a", { href: "#/runs" }, "← Runs")),
    h("h1", {}, `Compare ${runs.length} runs`),
    h(
      "div.card.compare-tools",
      {},
      field({ name: "baseline", label: "Baseline (deltas are against it)", input: baselinePicker }),
      h("label.check", {}, onlyDifferences, " Show only differences"),
    ),
    note ? h("p.baseline-note", { role: "status" }, note) : null,
    section("Metrics", h("p.small", {}, "Differences of percentages are in percentage points (pp)."), scroller("Metrics of the compared runs", h("table.compare", {}, h("thead", {}, header("Metric")), h("tbody", {}, metricRows)))),
    section(
      "Algorithm and parameters",
      h("p.small", {}, differing.size ? `${differing.size} setting(s) differ, marked ≠.` : "All settings agree."),
      scroller("Settings of the compared runs", h("table.compare.settings", {}, h("thead", {}, header("Setting")), h("tbody", {}, settingRows))),
    ),
    h(
      "div.grid",
      {},
      section(
        "F1 score per class",
        perClass.box,
        dataTable("F1 score per class", ["Class", ...runs.map((run) => run.modelVersion)], comparison.perClass.map((row) => [row.label, ...row.f1Score.values.map(pct)])),
      ),
      section(
        "Feature importance",
        importance.box,
        dataTable("feature importance", ["Feature", ...runs.map((run) => run.modelVersion)], comparison.featureImportance.map((row) => [row.feature, ...row.importances.map(pct)])),
      ),
      section(
        "Metric against setting",
        h("div.compare-tools", {}, field({ name: "scatterMetric", label: "Metric", input: scatterMetric }), field({ name: "scatterSetting", label: "Setting", input: scatterSetting })),
        scatter.box,
        scatterTable,
      ),
      section("Parallel coordinates", parallel.box, parallelTable()),
    ),
  );

  const colour = (index) => PALETTE[index % PALETTE.length];
  const datasets = (values) => runs.map((run, index) => ({ label: run.modelVersion, data: values(index), backgroundColor: colour(index), borderColor: colour(index) }));
  const charts = [
    chart(perClass.canvas, {
      type: "bar",
      data: { labels: comparison.perClass.map((row) => row.label), datasets: datasets((index) => comparison.perClass.map((row) => row.f1Score.values[index])) },
      options: { scales: { y: { min: 0, max: 1, ticks: { format: { style: "percent" } } } } },
    }),
  ];
  const features = comparison.featureImportance.slice(0, 12);
  charts.push(
    chart(importance.canvas, {
      type: "bar",
      data: { labels: features.map((row) => row.feature), datasets: datasets((index) => features.map((row) => row.importances[index])) },
      options: { indexAxis: "y", scales: { x: { ticks: { format: { style: "percent" } } } } },
    }),
  );

  let scatterChart = null;
  function drawScatter() {
    const [metricKey, metricLabel, metricText] = NUMERIC_METRICS.find(([key]) => key === scatterMetric.value);
    const [, settingLabel, settingText, settingNumber] = numericSettings.find(([name]) => name === scatterSetting.value);
    scatterChart?.destroy();
    scatterChart = chart(scatter.canvas, {
      type: "scatter",
      data: {
        datasets: runs.map((run, index) => ({
          label: run.modelVersion,
          // No point for a run without the metric (failed) or the setting (another algorithm's).
          data: run[metricKey] === null || settingNumber(run) === null || settingNumber(run) === undefined ? [] : [{ x: settingNumber(run), y: run[metricKey] }],
          backgroundColor: colour(index),
          borderColor: colour(index),
          pointRadius: 6,
        })),
      },
      options: { scales: { x: { title: { display: true, text: settingLabel } }, y: { title: { display: true, text: metricLabel } } } },
    });
    scatterTable.replaceChildren(dataTable(`${metricLabel} against ${settingLabel}`, ["Run", settingLabel, metricLabel], runs.map((run) => [run.modelVersion, settingText(run), metricText(run[metricKey])])));
  }
  scatterMetric.addEventListener("change", drawScatter);
  scatterSetting.addEventListener("change", drawScatter);
  drawScatter();

  // Parallel coordinates as a Chart.js line chart: one category per axis, each value scaled
  // to 0-1 between the runs' lowest and highest on that axis (the data table keeps the real
  // values; an "unlimited" limit is drawn at the top). Each axis: label, number of a run,
  // text of it, whether null means unlimited (a setting) rather than missing (a metric).
  function axes() {
    return [
      ...numericSettings.map(([, label, text, number]) => [label, number, text, true]),
      ...NUMERIC_METRICS.map(([key, label, text]) => [label, (run) => run[key], (run) => text(run[key]), false]),
    ];
  }
  function parallelTable() {
    return dataTable("parallel coordinates", ["Run", ...axes().map(([label]) => label)], runs.map((run) => [run.modelVersion, ...axes().map(([, , text]) => text(run))]));
  }
  // A missing metric (a failed run) or parameter (another algorithm's) is a gap in its line.
  const scaled = axes().map(([, value, , nullIsTop]) => {
    const values = runs.map(value).filter((v) => v !== null && v !== undefined);
    const low = Math.min(...values);
    const high = Math.max(...values);
    return (run) => {
      const v = value(run);
      if (v === undefined) return null;
      if (v === null) return nullIsTop ? 1 : null;
      return high === low ? 0.5 : (v - low) / (high - low);
    };
  });
  charts.push(
    chart(parallel.canvas, {
      type: "line",
      data: {
        labels: axes().map(([label]) => label),
        datasets: runs.map((run, index) => ({ label: run.modelVersion, data: scaled.map((scale) => scale(run)), borderColor: colour(index), backgroundColor: colour(index), tension: 0 })),
      },
      options: {
        scales: { y: { min: 0, max: 1, ticks: { callback: (value) => (value === 0 ? "lowest" : value === 1 ? "highest" : "") } } },
        plugins: {
          tooltip: {
            callbacks: {
              label: (item) => {
                const [, , text] = axes()[item.dataIndex];
                return `${runs[item.datasetIndex].modelVersion}: ${text(runs[item.datasetIndex])}`;
              },
            },
          },
        },
      },
    }),
  );
  return () => {
    for (const instance of charts) instance?.destroy();
    scatterChart?.destroy();
  };
}
