// Predictions (on servers with predictFutureNeed): pick an alias or a version, enter one
// row or paste CSV rows (the dataset's header), see the level and class probabilities.
import { gql } from "../api.js";
import { append, field, h, section } from "../dom.js";
import { exact, pct } from "../format.js";

const FIELDS = [
  ["jobRoleName", "job_role_name", "text", "Job role", "DevOps Engineer"],
  ["skillName", "skill_name", "text", "Skill", "JavaScript"],
  ["skillCategory", "skill_category", "text", "Skill category", "Technique"],
  ["jobDepartment", "job_department", "text", "Department", "IT"],
  ["trendScore", "trend_score", "number", "Trend score", "0.695"],
  ["internalUsage", "internal_usage", "number", "Internal usage", "0.641"],
  ["trainingRequests", "training_requests", "number", "Training requests", "32"],
  ["scarcityIndex", "scarcity_index", "number", "Scarcity index", "0.406"],
  ["hiringDifficulty", "hiring_difficulty", "number", "Hiring difficulty", "0.576"],
  ["avgSalaryK", "avg_salary_k", "number", "Average salary (k)", "72.97"],
  ["economicIndicator", "economic_indicator", "number", "Economic indicator", "0.760"],
];

const ALIASES = `query PredictModels { modelAliases { alias run { modelVersion } } }`;

function predictOperation(isMutation) {
  return `${isMutation ? "mutation" : "query"} Predict($model: String!, $rows: [PredictionRowInput!]!) {
  predictFutureNeed(model: $model, rows: $rows) {
    modelVersion run { id }
    predictions { level probabilities { label probability } }
  }
}`;
}

function value(type, text) {
  const trimmed = String(text ?? "").trim();
  if (trimmed === "") return undefined;
  return type === "number" ? Number(trimmed) : trimmed;
}

/** CSV with the dataset's header (snake_case or camelCase names); simple quoting. */
export function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (lines.length < 2) throw new Error("Paste a header line and at least one row.");
  const split = (line) => [...line.matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1].replace(/^"|"$/g, "").replace(/""/g, '"')).slice(0, -1);
  const header = split(lines[0]).map((name) => name.trim());
  return lines.slice(1).map((line) => {
    const cells = split(line);
    const row = {};
    for (const [key, column, type] of FIELDS) {
      const index = header.findIndex((name) => name === column || name === key);
      const parsed = index >= 0 ? value(type, cells[index]) : undefined;
      if (parsed !== undefined) row[key] = parsed;
    }
    return row;
  });
}

export async function render(main, ctx) {
  let aliases = [];
  try {
    aliases = (await gql(ALIASES)).modelAliases;
  } catch {
    // No aliases listing: the model is typed in.
  }
  const model = h("input", { type: "text", value: "production", list: "model-options", spellcheck: "false" });
  const options = h("datalist#model-options", {}, aliases.map((entry) => h("option", { value: entry.alias }, entry.run ? `${entry.alias} → ${entry.run.modelVersion}` : entry.alias)));
  const inputs = Object.fromEntries(FIELDS.map(([key, , type, , example]) => [key, h("input", { type: type === "number" ? "number" : "text", step: "any", placeholder: example })]));
  const csv = h("textarea", { rows: 4, spellcheck: "false", placeholder: `${FIELDS.map((f) => f[1]).join(",")}\n...` });
  const error = h("p.error", { role: "alert" });
  const result = h("div#prediction", { "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Predict");
  const form = h(
    "form.card",
    {
      novalidate: true,
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = "";
        button.disabled = true;
        result.replaceChildren(h("p.small", {}, "Predicting…"));
        let rows;
        try {
          rows = csv.value.trim()
            ? parseCsv(csv.value)
            : [Object.fromEntries(FIELDS.map(([key, , type]) => [key, value(type, inputs[key].value)]).filter(([, v]) => v !== undefined))];
          const data = await gql(predictOperation(ctx.caps.predictIsMutation), { model: model.value.trim() || "production", rows });
          show(data.predictFutureNeed, rows.length);
        } catch (failure) {
          result.replaceChildren();
          error.textContent = failure.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    field({ name: "model", label: "Model (alias or version)", input: model, hint: "An alias such as production, or a run's model version." }),
    options,
    h("fieldset.grid-fields", {}, h("legend", {}, "One row"), FIELDS.map(([key, , , label]) => field({ name: key, label, input: inputs[key] }))),
    field({ name: "csv", label: "Or paste CSV rows (with the dataset's header line)", input: csv }),
    error,
    h("div.actions", {}, button),
  );

  function show(prediction, count) {
    const labels = prediction.predictions[0]?.probabilities.map((p) => p.label) || [];
    result.replaceChildren(
      section(
        `Prediction by ${prediction.modelVersion}`,
        h(
          "div.table-scroll",
          {},
          h(
            "table.predictions",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Level"), labels.map((label) => h("th.num", { scope: "col" }, `P(${label})`)))),
            h(
              "tbody",
              {},
              prediction.predictions.map((row, index) =>
                h("tr", {}, h("th", { scope: "row" }, String(index + 1)), h("td", {}, h("strong.level", {}, row.level)), row.probabilities.map((p) => h("td.num", {}, exact(pct(p.probability), p.probability)))),
              ),
            ),
          ),
        ),
        h("p.small", {}, `${count} row(s).`),
      ),
    );
  }

  append(main, h("div.heading", {}, h("h1", {}, "Predict")), form, result);
  return null;
}
