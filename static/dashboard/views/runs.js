// The runs table: filters, the four orders, cursor paging both ways, total count, and
// live QUEUED / RUNNING rows through the one shared WebSocket. Ticking 2-10 rows opens
// the comparison.
import { gql } from "../api.js";
import { append, clear, field, h, statusBadge } from "../dom.js";
import { dateValue, durationValue, pct, pctValue } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";

const PAGE_SIZES = [5, 15, 50, 100];
const STATUSES = ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];
const ORDERS = {
  RUN_DATE: "Date",
  ACCURACY: "Accuracy",
  F1_SCORE: "F1 score",
  TRAINING_DURATION: "Duration",
};

const RUNS = `query Runs($first: Int, $after: String, $last: Int, $before: String,
    $filter: TrainingRunFilter, $orderBy: TrainingRunOrder) {
  trainingRuns(first: $first, after: $after, last: $last, before: $before,
      filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes {
      id status progress stage modelVersion accuracy f1Score trainingDurationSeconds
      trainedByUsername runDate
    }
  }
}`;

// Kept while the tab lives, so coming back from a run finds the same page and ticks.
const state = {
  filter: {},
  orderBy: { field: "RUN_DATE", direction: "DESC" },
  size: 15,
  page: { first: 15 },
  offset: 0,
  selected: new Map(),
};

function localDayStart(value, endOfDay) {
  if (!value) return null;
  const [year, month, day] = value.split("-").map(Number);
  const moment = endOfDay ? new Date(year, month - 1, day, 23, 59, 59, 999) : new Date(year, month - 1, day);
  return moment.toISOString();
}

export function render(main) {
  const unsubscribers = new Map();
  const rowsById = new Map();

  // --- filters ------------------------------------------------------------------------
  const statusBoxes = STATUSES.map((status) =>
    h("label.check", {}, h("input", { type: "checkbox", name: "status", value: status, checked: (state.filter.status || []).includes(status) }), ` ${status.toLowerCase()}`),
  );
  const user = h("input", { type: "search", value: state.filter.trainedBy || "", placeholder: "username" });
  const version = h("input", { type: "search", value: state.filter.modelVersion || "", placeholder: "model version" });
  const from = h("input", { type: "date", value: state.dates?.from || "" });
  const to = h("input", { type: "date", value: state.dates?.to || "" });
  const order = h(
    "select",
    {},
    Object.entries(ORDERS).map(([value, label]) => h("option", { value, selected: value === state.orderBy.field }, label)),
  );
  const direction = h(
    "select",
    {},
    h("option", { value: "DESC", selected: state.orderBy.direction === "DESC" }, "Descending"),
    h("option", { value: "ASC", selected: state.orderBy.direction === "ASC" }, "Ascending"),
  );
  const size = h("select", {}, PAGE_SIZES.map((value) => h("option", { value, selected: value === state.size }, String(value))));
  const filters = h(
    "form.filters",
    {
      "aria-label": "Filter and sort runs",
      onsubmit(event) {
        event.preventDefault();
        const status = statusBoxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
        state.filter = {
          ...(status.length ? { status } : {}),
          ...(user.value.trim() ? { trainedBy: user.value.trim() } : {}),
          ...(version.value.trim() ? { modelVersion: version.value.trim() } : {}),
          ...(from.value ? { runDateFrom: localDayStart(from.value, false) } : {}),
          ...(to.value ? { runDateTo: localDayStart(to.value, true) } : {}),
        };
        state.dates = { from: from.value, to: to.value };
        state.orderBy = { field: order.value, direction: direction.value };
        state.size = Number(size.value);
        state.page = { first: state.size };
        state.offset = 0;
        load();
      },
    },
    h("fieldset.statuses", {}, h("legend", {}, "Status"), statusBoxes),
    field({ name: "trainedBy", label: "Trained by", input: user }),
    field({ name: "modelVersion", label: "Model version", input: version }),
    field({ name: "runDateFrom", label: "From", input: from }),
    field({ name: "runDateTo", label: "To", input: to }),
    field({ name: "order", label: "Sort by", input: order }),
    field({ name: "direction", label: "Direction", input: direction }),
    field({ name: "pageSize", label: "Rows per page", input: size }),
    h("div.actions", {}, h("button", { type: "submit" }, "Apply")),
  );

  // --- table --------------------------------------------------------------------------
  const count = h("p.count", { role: "status", "aria-live": "polite" });
  const body = h("tbody");
  const table = h(
    "table.runs",
    { "aria-describedby": "runs-count" },
    h("caption.visually-hidden", {}, "Training runs"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, h("span.visually-hidden", {}, "Compare")),
        ["Status", "Version", "Accuracy", "F1", "Duration", "Trained by", "Date"].map((label) => h("th", { scope: "col" }, label)),
      ),
    ),
    body,
  );
  count.id = "runs-count";
  const previous = h("button.secondary", { type: "button", onclick: () => page("previous") }, "← Previous");
  const next = h("button.secondary", { type: "button", onclick: () => page("next") }, "Next →");
  const compare = h("button", { type: "button", onclick: openComparison }, "Compare");
  const selection = h("p.selection", { "aria-live": "polite" });
  const error = h("p.error", { role: "alert" });
  let pageInfo = null;
  let rowsOnPage = 0;

  append(main, 
    h("div.heading", {}, h("h1", {}, "Training runs")),
    // Folded on phones so the table comes first; open on wider screens.
    h("details.card.filter-box", { open: matchMedia("(min-width: 601px)").matches }, h("summary", {}, "Filters and order"), filters),
    h("div.card", {}, h("div.toolbar", {}, count, h("div.pager", {}, previous, next)), error, h("div.table-scroll", {}, table), h("div.toolbar", {}, selection, compare)),
  );

  function updateSelection() {
    const size = state.selected.size;
    selection.textContent = size ? `${size} selected for comparison (2 to 10).` : "Tick 2 to 10 runs to compare them.";
    compare.disabled = size < 2 || size > 10;
  }

  function openComparison() {
    const ids = [...state.selected.keys()].join(",");
    location.hash = `#/compare?ids=${encodeURIComponent(ids)}`;
  }

  function page(where) {
    if (!pageInfo) return;
    if (where === "next") {
      state.offset += rowsOnPage;
      state.page = { first: state.size, after: pageInfo.endCursor };
    } else {
      state.offset = Math.max(0, state.offset - state.size);
      state.page = { last: state.size, before: pageInfo.startCursor };
    }
    load();
  }

  function cells(run) {
    const running = run.status === "RUNNING" ? h("span.small", { title: `${run.progress}` }, ` ${pct(run.progress)}${run.stage ? ` · ${run.stage.toLowerCase().replace("_", " ")}` : ""}`) : null;
    // data-label names the column on phones, where each row becomes a card.
    return [
      h("td", { dataset: { label: "Status" } }, statusBadge(run.status), running),
      h("td", { dataset: { label: "Version" } }, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.modelVersion)),
      h("td.num", { dataset: { label: "Accuracy" } }, pctValue(run.accuracy)),
      h("td.num", { dataset: { label: "F1" } }, pctValue(run.f1Score)),
      h("td.num", { dataset: { label: "Duration" } }, durationValue(run.trainingDurationSeconds)),
      h("td", { dataset: { label: "Trained by" } }, run.trainedByUsername || "—"),
      h("td", { dataset: { label: "Date" } }, dateValue(run.runDate)),
    ];
  }

  function row(run) {
    const box = h("input", {
      type: "checkbox",
      checked: state.selected.has(run.id),
      "aria-label": `Compare ${run.modelVersion}`,
      onchange() {
        if (box.checked) state.selected.set(run.id, run.modelVersion);
        else state.selected.delete(run.id);
        updateSelection();
      },
    });
    const tr = h("tr", { dataset: { runId: run.id, status: run.status } }, h("td", {}, box), cells(run));
    rowsById.set(run.id, { tr, run, box });
    return tr;
  }

  function follow(run) {
    if (FINAL.has(run.status) || unsubscribers.has(run.id)) return;
    const stop = live.subscribe(RUN_UPDATED, { id: run.id }, {
      next(data) {
        const entry = rowsById.get(run.id);
        if (!entry) return;
        Object.assign(entry.run, data.trainingRunUpdated);
        entry.tr.dataset.status = entry.run.status;
        entry.tr.replaceChildren(entry.tr.firstChild, ...cells(entry.run));
      },
      complete() {
        unsubscribers.delete(run.id);
      },
      error() {
        unsubscribers.delete(run.id);
      },
    });
    unsubscribers.set(run.id, stop);
  }

  function stopFollowing() {
    for (const stop of unsubscribers.values()) stop();
    unsubscribers.clear();
    rowsById.clear();
  }

  async function load() {
    error.textContent = "";
    main.setAttribute("aria-busy", "true");
    try {
      const data = await gql(RUNS, { ...state.page, filter: state.filter, orderBy: state.orderBy });
      const runs = data.trainingRuns;
      pageInfo = runs.pageInfo;
      rowsOnPage = runs.nodes.length;
      if (state.page.last && !pageInfo.hasPreviousPage) state.offset = 0;
      stopFollowing();
      clear(body);
      if (!runs.nodes.length) body.append(h("tr", {}, h("td", { colspan: 8 }, "No run matches.")));
      runs.nodes.forEach((run) => {
        body.append(row(run));
        follow(run);
      });
      const first = runs.nodes.length ? state.offset + 1 : 0;
      count.textContent = `Runs ${first}–${state.offset + runs.nodes.length} of ${runs.totalCount}`;
      count.dataset.total = runs.totalCount;
      previous.disabled = !pageInfo.hasPreviousPage;
      next.disabled = !pageInfo.hasNextPage;
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      main.removeAttribute("aria-busy");
    }
  }

  updateSelection();
  load();
  return stopFollowing;
}
