// Predictions (on servers with predictFutureNeed): pick an alias or a version, enter one
// row or paste CSV rows (the dataset's header), see the level and class probabilities,
// the reasons for each level as signed bars, and the inputs the model had to fill in.
import { append, field, h, scroller, section, setTitle, wrappable } from "../dom.js";
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

const PREDICT = `query Predict($model: String!, $rows: [PredictionRowInput!]!, $explain: Int) {
  predictFutureNeed(model: $model, rows: $rows, explain: $explain) {
    modelVersion run { id } reasonUnits
    predictions { level probabilities { label probability } imputed reasons { feature value contribution } }
  }
}`;
// Reasons shown per row; the server explains at most 100 rows per request.
const REASONS = 5;
const MAX_EXPLAINED_ROWS = 100;

/** A row's reasons as signed bars: right (and blue) pushed towards the level, left (and
 * orange) away from it; lengths relative to the row's largest contribution. */
export function reasonBars(reasons, imputed) {
  const max = Math.max(...reasons.map((r) => Math.abs(r.contribution)), 1e-9);
  const filled = new Set(imputed);
  return h(
    "ol.reasons",
    {},
    reasons.map((reason) => {
      const bar = h(reason.contribution >= 0 ? "span.reason-bar.up" : "span.reason-bar.down");
      bar.style.setProperty("--share", (Math.abs(reason.contribution) / max).toFixed(4));
      const value = reason.value === null ? "missing" : reason.value;
      const sign = reason.contribution >= 0 ? "+" : "−";
      return h(
        "li",
        { title: `${reason.feature} = ${value}: ${sign}${Math.abs(reason.contribution).toFixed(4)}` },
        h("span.reason-label", {}, wrappable(reason.feature), " ", h(filled.has(reason.feature) ? "span.reason-value.imputed" : "span.reason-value", {}, `= ${value}`)),
        h("span.reason-track", {}, h("span.reason-half.neg", {}, reason.contribution < 0 ? bar : null), h("span.reason-half.pos", {}, reason.contribution >= 0 ? bar : null)),
        h("span.reason-number", {}, `${sign}${Math.abs(reason.contribution).toFixed(3)}`),
      );
    }),
  );
}

/** A number as people type it: "0.695", or "0,695" in a semicolon-separated file (the
 * Excel export of locales whose decimal mark is a comma). NaN when it is not one. */
function number(text, decimalComma) {
  const cleaned = decimalComma ? text.replace(",", ".") : text;
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cleaned) ? Number(cleaned) : NaN;
}

/** The separator of a CSV text: the one of ",", ";" or tab that splits its header most. */
function separatorOf(headerLine) {
  const counts = [",", ";", "\t"].map((sep) => [sep, splitLine(headerLine, sep).length]);
  return counts.sort((a, b) => b[1] - a[1])[0][0];
}

/** One line's cells, with "quoted" cells (a doubled quote inside is one quote). */
function splitLine(line, sep) {
  const cells = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === sep) {
      cells.push(cell);
      cell = "";
    } else cell += char;
  }
  cells.push(cell);
  return cells.map((text) => text.trim());
}

export class RowsProblem extends Error {
  constructor(problems) {
    super(problems.map((p) => (p.row ? `Row ${p.row}, column ${p.column}: ${p.message}` : p.message)).join(" "));
    this.problems = problems;
  }
}

/** CSV with the dataset's header (snake_case or camelCase names), separated by commas,
 * semicolons or tabs. Every problem is collected, each naming its row (1 = the first row
 * after the header) and column, and nothing is predicted while there is one: a value the
 * model cannot read would otherwise be silently left out and the answer look sure. */
export function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (lines.length < 2) throw new RowsProblem([{ message: "Paste a header line and at least one row." }]);
  const sep = separatorOf(lines[0]);
  const header = splitLine(lines[0], sep);
  const columns = FIELDS.map(([key, column, type]) => [key, column, type, header.findIndex((name) => name === column || name === key)]);
  // Each field's GraphQL name and its CSV column name.
  const known = new Set([...FIELDS.map(([key]) => key), ...FIELDS.map(([, column]) => column)]);
  const unknown = header.filter((name) => name && !known.has(name) && name !== "future_need_level");
  const problems = [];
  if (!columns.some(([, , , index]) => index >= 0)) {
    problems.push({ message: `The header names none of the model's columns (${FIELDS.map((f) => f[1]).join(", ")}); it reads: ${header.join(" | ")}.` });
    throw new RowsProblem(problems);
  }
  if (unknown.length) problems.push({ message: `Unknown column(s) in the header: ${unknown.join(", ")}.` });
  const rows = lines.slice(1).map((line, index) => {
    const cells = splitLine(line, sep);
    const rowNumber = index + 1;
    if (cells.length !== header.length) {
      problems.push({ row: rowNumber, column: "—", message: `${cells.length} cell(s) where the header has ${header.length}.` });
    }
    const row = {};
    for (const [key, column, type, at] of columns) {
      if (at < 0) continue;
      const text = cells[at] ?? "";
      if (text === "") {
        problems.push({ row: rowNumber, column, message: "empty." });
      } else if (type === "number") {
        const parsed = number(text, sep === ";");
        if (Number.isNaN(parsed)) problems.push({ row: rowNumber, column, message: `"${text}" is not a number.` });
        else row[key] = parsed;
      } else row[key] = text;
    }
    return row;
  });
  if (problems.length) throw new RowsProblem(problems);
  return rows;
}

/** The one-row form's values; every field must be filled and every number readable. */
function formRow(inputs) {
  const row = {};
  const problems = [];
  for (const [key, , type, label] of FIELDS) {
    const text = inputs[key].value.trim();
    if (text === "") problems.push({ key, message: `${label} is empty.` });
    else if (type === "number") {
      const parsed = number(text, false);
      if (Number.isNaN(parsed)) problems.push({ key, message: `${label}: "${text}" is not a number.` });
      else row[key] = parsed;
    } else row[key] = text;
  }
  return { row, problems };
}

export async function render(main, ctx) {
  setTitle("Predict");
  let aliases = [];
  try {
    aliases = (await ctx.gql(ALIASES)).modelAliases;
  } catch (failure) {
    if (failure.name === "AbortError") throw failure;
    // No aliases listing: the model is typed in.
  }
  const model = h("input", { type: "text", value: "production", list: "model-options", spellcheck: "false" });
  const options = h("datalist#model-options", {}, aliases.map((entry) => h("option", { value: entry.alias }, entry.run ? `${entry.alias} → ${entry.run.modelVersion}` : entry.alias)));
  // No placeholders: grey examples in empty fields were taken for filled-in values. The
  // examples are hints under the fields instead.
  const inputs = Object.fromEntries(FIELDS.map(([key, , type]) => [key, h("input", { type: "text", inputmode: type === "number" ? "decimal" : undefined, autocomplete: "off" })]));
  const csv = h("textarea", { rows: 4, spellcheck: "false" });
  const problemsBox = h("div#predict-problems");
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
        problemsBox.replaceChildren();
        for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
        for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
        result.replaceChildren();
        let rows;
        if (csv.value.trim()) {
          try {
            rows = parseCsv(csv.value);
          } catch (failure) {
            showProblems(failure.problems || [{ message: failure.message }]);
            return;
          }
        } else {
          const typed = formRow(inputs);
          if (typed.problems.length) {
            for (const problem of typed.problems) {
              form.querySelector(`[data-error-for="${problem.key}"]`).textContent = problem.message;
              inputs[problem.key].setAttribute("aria-invalid", "true");
            }
            error.textContent = "Fill in every field of the row (or paste CSV rows) before predicting.";
            inputs[typed.problems[0].key].focus();
            return;
          }
          rows = [typed.row];
        }
        button.disabled = true;
        result.replaceChildren(h("p.small", { role: "status" }, "Predicting…"));
        try {
          const explain = rows.length <= MAX_EXPLAINED_ROWS ? REASONS : 0;
          const data = await ctx.gql(PREDICT, { model: model.value.trim() || "production", rows, explain });
          show(data.predictFutureNeed, rows.length);
        } catch (failure) {
          result.replaceChildren();
          if (failure.name !== "AbortError") error.textContent = failure.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    field({ name: "model", label: "Model (alias or version)", input: model, hint: "An alias such as production, or a run's model version." }),
    options,
    h("fieldset.grid-fields", {}, h("legend", {}, "One row"), FIELDS.map(([key, , , label, example]) => field({ name: key, label, input: inputs[key], hint: `For example ${example}.` }))),
    field({ name: "csv", label: "Or paste CSV rows (with the dataset's header line)", input: csv, hint: `Separated by commas, semicolons or tabs; header: ${FIELDS.map((f) => f[1]).join(",")}` }),
    error,
    problemsBox,
    h("div.actions", {}, button),
  );

  function showProblems(problems) {
    problemsBox.replaceChildren(
      h(
        "div.problem",
        { role: "alert" },
        h("p", {}, `Nothing was predicted: ${problems.length} problem(s) in the pasted rows. Fix them and press Predict again.`),
        scroller(
          "Problems in the pasted rows",
          h(
            "table.row-problems",
            {},
            h("thead", {}, h("tr", {}, ["Row", "Column", "Problem"].map((label) => h("th", { scope: "col" }, label)))),
            h("tbody", {}, problems.map((p) => h("tr", {}, h("td", {}, p.row ? String(p.row) : "header"), h("td", {}, p.column || "—"), h("td", {}, p.message)))),
          ),
        ),
      ),
    );
  }

  function show(prediction, count) {
    const labels = prediction.predictions[0]?.probabilities.map((p) => p.label) || [];
    const explained = prediction.reasonUnits !== null;
    const units = prediction.reasonUnits === "probability" ? "probability points" : prediction.reasonUnits;
    result.replaceChildren(
      section(
        `Prediction by ${prediction.modelVersion}`,
        scroller(
          "Predictions",
          h(
            "table.predictions",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Level"), labels.map((label) => h("th.num", { scope: "col" }, `P(${label})`)), explained ? h("th", { scope: "col" }, "Why this level") : null, h("th", { scope: "col" }, "Filled in by the model"))),
            h(
              "tbody",
              {},
              prediction.predictions.map((row, index) =>
                h(
                  row.imputed.length ? "tr.has-imputed" : "tr",
                  {},
                  h("th", { scope: "row" }, String(index + 1)),
                  h("td", {}, h("strong.level", {}, row.level)),
                  row.probabilities.map((p) => h("td.num", {}, exact(pct(p.probability), p.probability))),
                  explained ? h("td.why", {}, reasonBars(row.reasons, row.imputed)) : null,
                  h("td.imputed-inputs", {}, row.imputed.length ? h("span.imputed-badge", { title: "Missing in this row: the model filled these in, so the answer rests on a guess there." }, `⚠ ${row.imputed.join(", ")}`) : "—"),
                ),
              ),
            ),
          ),
        ),
        h("p.small", {}, explained ? `${count} row(s). Reasons: each column's signed contribution to the level (SHAP), in ${units}; right pushes towards the level, left away from it.` : `${count} row(s). Reasons are given for up to ${MAX_EXPLAINED_ROWS} rows at a time.`),
      ),
    );
  }

  append(main, h("div.heading", {}, h("h1", {}, "Predict")), form, result);
  append(main, (await import("./batch.js")).batchPanel(ctx));
  return null;
}
