// "Promote with a gate" (issue 24), a form of the Models page for HR staff: the candidate
// and the alias's current model are evaluated on a labelled file, and the alias moves only
// if the candidate is at least as good (plus a required improvement).
import { field, h, section, toast } from "../dom.js";
import { num } from "../format.js";
import { datasetInput } from "./datasets.js";

const PROMOTE = `mutation PromoteGated($alias: String!, $runId: ID!, $gate: PromotionGateInput) {
  setModelAlias(alias: $alias, runId: $runId, gate: $gate) {
    modelAlias { alias run { modelVersion } }
    gate { metric candidateValue currentValue passed }
    errors { field message code }
  }
}`;

/** The metrics a gate may compare (the schema's GateMetric), as a select. */
export function gateMetricSelect() {
  return h("select", {}, ["ACCURACY", "F1_SCORE", "PRECISION", "RECALL"].map((metric) => h("option", { value: metric }, metric)));
}

export function gateForm(ctx) {
  const alias = h("input", { type: "text", value: "production", spellcheck: "false" });
  const runId = h("input", { type: "text", spellcheck: "false" });
  const [dataset, datasetList] = datasetInput();
  const metric = gateMetricSelect();
  const improvement = h("input", { type: "number", step: "0.001", value: "0" });
  const outcome = h("p.gate-outcome", { role: "status" });
  const form = h(
    "form.gate",
    {
      async onsubmit(event) {
        event.preventDefault();
        outcome.textContent = "Evaluating both models…";
        const result = (
          await ctx.gql(PROMOTE, {
            alias: alias.value.trim(),
            runId: runId.value.trim(),
            gate: { datasetPath: dataset.value.trim(), metric: metric.value, minImprovement: Number(improvement.value || 0) },
          })
        ).setModelAlias;
        const gate = result.gate;
        const values = gate ? `${gate.metric}: candidate ${num(gate.candidateValue)}, current ${gate.currentValue === null ? "none" : num(gate.currentValue)}. ` : "";
        if (result.errors.length) {
          outcome.textContent = values + result.errors.map((e) => `${e.message} (${e.code})`).join(" ");
          form.dataset.passed = "false";
          return;
        }
        outcome.textContent = `${values}Passed: ${result.modelAlias.alias} now points at ${result.modelAlias.run.modelVersion}.`;
        form.dataset.passed = "true";
        toast(outcome.textContent);
      },
    },
    field({ name: "alias", label: "Alias to move", input: alias }),
    field({ name: "runId", label: "Candidate run", input: runId, hint: "Its database id." }),
    field({ name: "datasetPath", label: "Labelled file", input: dataset, hint: "A CSV in the datasets folder, with future_need_level." }),
    datasetList,
    field({ name: "metric", label: "Metric", input: metric }),
    field({ name: "minImprovement", label: "Required improvement", input: improvement, hint: "0: a tie passes." }),
    h("div.actions", {}, h("button", { type: "submit" }, "Promote if better")),
    outcome,
  );
  return section("Promote with a gate", form);
}
