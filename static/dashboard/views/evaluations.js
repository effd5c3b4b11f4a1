// "Evaluate on…" (issue 24), a panel of the run page: HR staff evaluate the run's model on a
// labelled CSV; everyone who reads sees its evaluations, the metrics and the drift table
// (drifted features first), and for the selected feature reference vs current bars.
import { field, h, scroller, section, statusBadge, toast } from "../dom.js";
import { dateValue, int, num, pct } from "../format.js";
import { datasetInput } from "./datasets.js";

const EVALUATIONS = `query RunEvaluations($id: ID!) {
  trainingRun(id: $id) {
    evaluations(first: 5) {
      nodes {
        id databaseId status errorMessage datasetPath createdAt
        metrics { accuracy f1Score samples }
        drift {
          shareDrifted datasetDrifted referenceRows currentRows
          features {
            feature kind test value threshold drifted psi unseenCategories
            histogram { labels reference current }
          }
        }
      }
    }
  }
}`;

const START = `mutation Evaluate($input: StartEvaluationInput!) {
  startEvaluation(input: $input) { evaluation { id databaseId } errors { field message code } }
}`;

const ACTIVE = new Set(["QUEUED", "RUNNING"]);

/** A bar `share` (0-1) of the widest: its width set through the CSSOM, which the
 * Content-Security-Policy allows (a style attribute it refuses). */
function bar(kind, share) {
  const element = h(`span.bar.${kind}`);
  element.style.width = `${share * 100}%`;
  return element;
}

/** Reference vs current shares per bin, as paired horizontal bars (no chart library). */
function histogram(feature) {
  const top = Math.max(...feature.histogram.reference, ...feature.histogram.current, 1e-9);
  return h(
    "div.drift-histogram",
    { role: "img", "aria-label": `${feature.feature}: reference and current distributions` },
    h("p.small", {}, h("span.swatch.reference"), " reference ", h("span.swatch.current"), " current"),
    feature.histogram.labels.map((label, i) =>
      h(
        "div.bin",
        {},
        h("span.bin-label", {}, label),
        bar("reference", feature.histogram.reference[i] / top),
        bar("current", feature.histogram.current[i] / top),
      ),
    ),
  );
}

function driftTable(drift) {
  const chart = h("div.drift-chart");
  const select = (feature) => {
    chart.replaceChildren(h("h3", {}, feature.feature), histogram(feature));
  };
  const rows = drift.features.map((feature) =>
    h(
      "tr",
      { dataset: { feature: feature.feature, drifted: String(feature.drifted) } },
      h("th", { scope: "row" }, h("button.link", { type: "button", onclick: () => select(feature) }, feature.feature)),
      h("td", {}, feature.drifted ? "⚠ drifted" : "—"),
      h("td", {}, feature.test),
      h("td.num", {}, num(feature.value)),
      h("td.num", {}, num(feature.threshold)),
      h("td.num", {}, feature.psi === null ? "—" : num(feature.psi)),
      h("td.num", {}, int(feature.unseenCategories)),
    ),
  );
  if (drift.features.length) select(drift.features[0]);
  return h(
    "div",
    {},
    h("p", {}, `${pct(drift.shareDrifted)} of features drifted${drift.datasetDrifted ? " — the data drifted" : ""} (reference ${int(drift.referenceRows)} rows, current ${int(drift.currentRows)}).`),
    scroller(
      "Drift per feature",
      h(
        "table.drift",
        {},
        h("thead", {}, h("tr", {}, ["Feature", "Drifted", "Test", "Value", "Threshold", "PSI", "Unseen"].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, rows),
      ),
    ),
    chart,
  );
}

function evaluationView(evaluation) {
  return h(
    "article.evaluation",
    { dataset: { evaluation: String(evaluation.databaseId), status: evaluation.status } },
    h("h3", {}, `Evaluation ${evaluation.databaseId} on `, h("code", {}, evaluation.datasetPath), " ", statusBadge(evaluation.status)),
    h("p.small", {}, dateValue(evaluation.createdAt)),
    evaluation.errorMessage ? h("p.error", {}, evaluation.errorMessage) : null,
    evaluation.metrics ? h("p", {}, `Accuracy ${pct(evaluation.metrics.accuracy)} · F1 ${pct(evaluation.metrics.f1Score)} · ${int(evaluation.metrics.samples)} rows`) : null,
    evaluation.drift ? driftTable(evaluation.drift) : null,
  );
}

/** The panel of run `run`: a form (HR staff) and its latest evaluations. */
export function evaluationPanel(run, ctx) {
  const list = h("div.evaluations");
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (ctx.signal.aborted) return;
    const nodes = (await ctx.gql(EVALUATIONS, { id: run.id })).trainingRun.evaluations.nodes;
    list.replaceChildren(...(nodes.length ? nodes.map(evaluationView) : [h("p.small", {}, "Not evaluated on other data yet.")]));
    if (nodes.some((e) => ACTIVE.has(e.status)) && !ctx.signal.aborted) timer = setTimeout(refresh, 1000);
  }
  ctx.signal.addEventListener("abort", () => clearTimeout(timer));
  refresh().catch((error) => toast(error.message));

  let form = null;
  if (ctx.user.canTrain) {
    const [dataset, datasetList] = datasetInput();
    form = h(
      "form.evaluate",
      {
        async onsubmit(event) {
          event.preventDefault();
          const slot = form.querySelector('[data-error-for="datasetPath"]');
          slot.textContent = "";
          const result = (await ctx.gql(START, { input: { model: String(run.databaseId), datasetPath: dataset.value.trim() } })).startEvaluation;
          if (result.errors.length) {
            slot.textContent = result.errors.map((e) => `${e.message} (${e.code})`).join(" ");
            return;
          }
          toast(`Evaluation ${result.evaluation.databaseId} started.`);
          refresh();
        },
      },
      field({ name: "datasetPath", label: "Labelled file", input: dataset, hint: "A CSV in the datasets folder, with future_need_level." }),
      datasetList,
      h("div.actions", {}, h("button", { type: "submit" }, "Evaluate")),
    );
  }
  return section("Evaluate on…", form, list);
}
