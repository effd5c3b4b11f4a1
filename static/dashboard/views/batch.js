// "Score a file" (issue 24), a panel of the Predict page: HR staff start a batch prediction
// of a CSV in the datasets folder, with the top reasons per row if they ask; everyone who
// reads sees the jobs, their progress (polled while any is active) and, HR staff, a
// download once complete.
import { downloadFile } from "../api.js";
import { cards, field, h, scroller, section, statusBadge, toast } from "../dom.js";
import { dateValue, int, pct } from "../format.js";
import { datasetInput } from "./datasets.js";

const JOBS = `query BatchJobs {
  batchPredictions(first: 10) {
    nodes {
      id databaseId status progress rowsTotal rowsDone rowsScored rowsRejected
      modelVersion datasetPath explain downloadUrl errorMessage createdByUsername createdAt
    }
  }
}`;

const START = `mutation ScoreFile($input: StartBatchPredictionInput!) {
  startBatchPrediction(input: $input) {
    batchPrediction { id databaseId status }
    errors { field message code }
  }
}`;

const CANCEL = `mutation CancelScoring($id: ID!) {
  cancelBatchPrediction(id: $id) { errors { message } }
}`;

const ACTIVE = new Set(["QUEUED", "RUNNING"]);
const POLL_MS = 1000;

function jobRow(job, ctx, refresh) {
  const rows = job.rowsTotal ? `${int(job.rowsDone)} / ${int(job.rowsTotal)}` : int(job.rowsDone);
  const actions = [];
  if (ctx.user.canTrain && job.downloadUrl) {
    actions.push(
      h("button.secondary", {
        type: "button",
        onclick: () => downloadFile(job.downloadUrl, `batch-prediction-${job.databaseId}.csv`).catch((e) => toast(e.message)),
      }, "Download"),
    );
  }
  if (ctx.user.canTrain && ACTIVE.has(job.status)) {
    actions.push(
      h("button.secondary", {
        type: "button",
        async onclick() {
          await ctx.gql(CANCEL, { id: job.id });
          refresh();
        },
      }, "Cancel"),
    );
  }
  return h(
    "tr",
    { dataset: { job: String(job.databaseId), status: job.status } },
    h("th", { scope: "row" }, String(job.databaseId)),
    h("td", {}, statusBadge(job.status), job.errorMessage ? h("p.small", {}, job.errorMessage) : null),
    h("td", {}, h("progress", { max: 100, value: Math.round(job.progress * 100), "aria-label": `Job ${job.databaseId} progress` }), ` ${pct(job.progress)}`),
    h("td.num", {}, rows),
    h("td.num", {}, job.rowsScored === null ? "—" : int(job.rowsScored)),
    h("td.num", {}, job.rowsRejected === null ? "—" : int(job.rowsRejected)),
    h("td", {}, h("code", {}, job.datasetPath)),
    h("td.num", {}, job.explain ? String(job.explain) : "—"),
    h("td", {}, job.modelVersion),
    h("td", {}, dateValue(job.createdAt)),
    h("td", {}, actions),
  );
}

/** The panel: a form (HR staff) and the latest jobs, refreshed while any is active. */
export function batchPanel(ctx) {
  const body = h("tbody");
  const table = scroller(
    "Batch predictions",
    cards(h(
      "table.batch-jobs",
      {},
      h("thead", {}, h("tr", {}, ["Job", "Status", "Progress", "Rows", "Scored", "Rejected", "File", "Reasons", "Model", "Started"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")))),
      body,
    )),
  );
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (ctx.signal.aborted) return;
    const { batchPredictions } = await ctx.gql(JOBS);
    const jobs = batchPredictions.nodes;
    body.replaceChildren(...(jobs.length ? jobs.map((job) => jobRow(job, ctx, refresh)) : [h("tr", {}, h("td", { colspan: 11 }, "No file scored yet."))]));
    if (jobs.some((job) => ACTIVE.has(job.status)) && !ctx.signal.aborted) timer = setTimeout(refresh, POLL_MS);
  }
  ctx.signal.addEventListener("abort", () => clearTimeout(timer));
  refresh().catch((error) => toast(error.message));

  let form = null;
  if (ctx.user.canTrain) {
    const model = h("input", { type: "text", value: "production", spellcheck: "false" });
    const [dataset, datasetList] = datasetInput();
    const explain = h("input", { type: "number", min: "0", max: "10", step: "1", value: "0", inputmode: "numeric" });
    form = h(
      "form.score-file",
      {
        async onsubmit(event) {
          event.preventDefault();
          for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
          // A blank field means no reasons; anything else goes as typed, for the server to judge.
          const reasons = explain.value.trim() === "" ? 0 : Number(explain.value);
          if (!Number.isInteger(reasons)) {
            form.querySelector('[data-error-for="explain"]').textContent = "A whole number of reasons, 0 to 10.";
            return;
          }
          const input = { model: model.value.trim(), datasetPath: dataset.value.trim(), explain: reasons };
          const result = (await ctx.gql(START, { input })).startBatchPrediction;
          for (const error of result.errors) {
            const slot = form.querySelector(`[data-error-for="${error.field.at(-1)}"]`);
            if (slot) slot.textContent = `${error.message} (${error.code})`;
          }
          if (!result.errors.length) {
            toast(`Scoring started (job ${result.batchPrediction.databaseId}).`);
            refresh();
          }
        },
      },
      field({ name: "model", label: "Model for the file", input: model, hint: "An alias or a model version." }),
      field({ name: "datasetPath", label: "File", input: dataset, hint: "A CSV in the datasets folder, with or without future_need_level." }),
      datasetList,
      field({
        name: "explain",
        label: "Explain (top reasons per row)",
        input: explain,
        hint: "0 to 10: each row gets that many reasons, the columns that weighed most on its level (reason_1_feature, reason_1_value, reason_1_contribution, then reason_2_…). 0 scores fastest.",
      }),
      h("div.actions", {}, h("button", { type: "submit" }, "Score the file")),
    );
  }
  return section("Score a file", form, table);
}
