// The runs table: search, filters, click-to-sort headers (the API's four orders), a
// column chooser with setting and metric columns, cursor paging both ways, total count,
// CSV export of the current filter (streamed by the server), and live QUEUED / RUNNING
// rows through the one shared WebSocket. Ticking 2-10 rows opens the comparison. Tags are
// a column (edited in place by HR staff) and a filter (any or every one of them).
//
// What the table shows is in the URL (#/runs?q=beta&status=FAILED&sort=ACCURACY&dir=ASC&
// after=…): a reload or a shared link shows the same rows. Changes push a history entry
// without re-rendering (history.pushState fires no hashchange); Back re-renders from it.
import { downloadFile } from "../api.js";
import { append, clear, field, h, problem, scroller, setTitle, statusBadge, toast } from "../dom.js";
import { dateValue, durationValue, exact, int, pct, pctValue } from "../format.js";
import { FINAL, RUN_UPDATED, live } from "../live.js";
import { algorithmName, loadCatalogue, parameterFacts, parameterSpec, parameterText, parameterValue } from "../parameters.js";
import { runningText } from "./run.js";
import { parseTags, tagChips, tagEditor } from "./tags.js";

const PAGE_SIZES = [15, 50, 100, 5];
const STATUSES = ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];
const ORDERS = {
  RUN_DATE: "Date",
  ACCURACY: "Accuracy",
  F1_SCORE: "F1 score",
  TRAINING_DURATION: "Duration",
};
const COLUMNS_KEY = "future-skills.run-columns";

const RUNS = `query Runs($first: Int, $after: String, $last: Int, $before: String,
    $filter: TrainingRunFilter, $orderBy: TrainingRunOrder) {
  trainingRuns(first: $first, after: $after, last: $last, before: $before,
      filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes {
      id databaseId status progress stage startedAt modelVersion accuracy f1Score precision recall
      trainingDurationSeconds trainedByUsername runDate testSplit randomState datasetPath notes tags
      algorithm parameters { name value }
    }
  }
}`;

// Labels of the runs' parameters (Query.trainingAlgorithms, loaded once per tab).
let catalogue = new Map();

/** A column of one parameter: its value where the run's algorithm has it, else "—". */
function parameterCell(name) {
  return (run) => parameterText(parameterValue(run, name), parameterSpec(catalogue, run, name));
}

/** Every parameter of the run on one line: "Learning rate 0.2 · Boosting iterations 8 · …". */
function allParameters(run) {
  return h("span.parameters", {}, parameterFacts(catalogue, run).map(([label, text]) => `${label} ${text}`).join(" · "));
}

// key, header, cell of a run, shown by default, the order its header sorts by
const COLUMNS = [
  ["status", "Status", (run) => [statusBadge(run.status), running(run)], true],
  ["version", "Version", (run) => h("a", { href: `#/runs/${run.databaseId}` }, run.modelVersion), true],
  ["accuracy", "Accuracy", (run) => pctValue(run.accuracy), true, "ACCURACY"],
  ["f1", "F1", (run) => pctValue(run.f1Score), true, "F1_SCORE"],
  ["precision", "Precision", (run) => pctValue(run.precision), false],
  ["recall", "Recall", (run) => pctValue(run.recall), false],
  ["duration", "Duration", (run) => durationValue(run.trainingDurationSeconds), true, "TRAINING_DURATION"],
  ["algorithm", "Algorithm", (run) => algorithmName(run.algorithm), true],
  ["parameters", "Parameters", allParameters, false],
  // The parameters several algorithms share, one column each ("—" for an algorithm without).
  ["trees", "Trees", parameterCell("nEstimators"), false],
  ["maxDepth", "Max depth", parameterCell("maxDepth"), false],
  ["minSplit", "Min samples to split", parameterCell("minSamplesSplit"), false],
  ["minLeaf", "Min samples per leaf", parameterCell("minSamplesLeaf"), false],
  ["classWeight", "Class weight", parameterCell("classWeight"), false],
  ["testSplit", "Test split", (run) => exact(pct(run.testSplit), run.testSplit), false],
  ["randomState", "Random state", (run) => String(run.randomState), false],
  ["dataset", "Dataset", (run) => run.datasetPath, false],
  ["notes", "Notes", (run) => run.notes || "—", false],
  // Filled in by the view (chips, and an editor for HR staff).
  ["tags", "Tags", (run) => tagChips(run.tags), true],
  ["user", "Trained by", (run) => run.trainedByUsername || "—", true],
  ["date", "Date", (run) => dateValue(run.runDate), true, "RUN_DATE"],
];
const NUMERIC = new Set(["accuracy", "f1", "precision", "recall", "duration", "trees", "minSplit", "minLeaf", "testSplit"]);

function running(run) {
  if (run.status !== "RUNNING") return null;
  const stage = run.stage ? ` · ${run.stage.toLowerCase().replace("_", " ")}` : "";
  return h("span.small.running", { title: `${run.progress}` }, ` ${pct(run.progress)}${stage}`, h("br"), runningText(run));
}

// Kept while the tab lives: the last table's URL (the nav's "Runs" link comes back to it)
// and the ticked runs (database id → version).
let lastQuery = "";
const selected = new Map();

function visibleColumns() {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "null");
    if (Array.isArray(saved)) return new Set(saved);
  } catch {
    // a bad saved value: the defaults
  }
  return new Set(COLUMNS.filter((column) => column[3]).map(([key]) => key));
}

/** The table's state from the URL's query. */
function stateOf(query) {
  const list = (name) => (query.get(name) || "").split(",").filter(Boolean);
  const size = PAGE_SIZES.includes(Number(query.get("size"))) ? Number(query.get("size")) : 15;
  return {
    q: query.get("q") || "",
    status: list("status").filter((status) => STATUSES.includes(status)),
    user: query.get("user") || "",
    version: query.get("version") || "",
    tags: query.get("tags") || "",
    tagsAll: query.get("tagsAll") === "1",
    from: query.get("from") || "",
    to: query.get("to") || "",
    sort: ORDERS[query.get("sort")] ? query.get("sort") : "RUN_DATE",
    dir: query.get("dir") === "ASC" ? "ASC" : "DESC",
    size,
    after: query.get("after") || "",
    before: query.get("before") || "",
    last: query.get("last") === "1",
    at: Math.max(0, Number(query.get("at")) || 0),
  };
}

function queryOf(state) {
  const query = new URLSearchParams();
  const put = (name, value) => value && query.set(name, value);
  put("q", state.q);
  put("status", state.status.join(","));
  put("user", state.user);
  put("version", state.version);
  put("tags", state.tags);
  if (state.tagsAll) put("tagsAll", "1");
  put("from", state.from);
  put("to", state.to);
  if (state.sort !== "RUN_DATE") put("sort", state.sort);
  if (state.dir !== "DESC") put("dir", state.dir);
  if (state.size !== 15) put("size", String(state.size));
  put("after", state.after);
  put("before", state.before);
  if (state.last) put("last", "1");
  if (state.at) put("at", String(state.at));
  return query.toString();
}

function localDay(value, endOfDay) {
  const [year, month, day] = value.split("-").map(Number);
  const moment = endOfDay ? new Date(year, month - 1, day, 23, 59, 59, 999) : new Date(year, month - 1, day);
  return moment.toISOString();
}

function filterOf(state) {
  return {
    ...(state.q ? { search: state.q } : {}),
    ...(state.status.length ? { status: state.status } : {}),
    ...(state.user ? { trainedBy: state.user } : {}),
    ...(state.version ? { modelVersion: state.version } : {}),
    ...(parseTags(state.tags).length ? { tags: { [state.tagsAll ? "all" : "any"]: parseTags(state.tags) } } : {}),
    ...(state.from ? { runDateFrom: localDay(state.from, false) } : {}),
    ...(state.to ? { runDateTo: localDay(state.to, true) } : {}),
  };
}

function pageOf(state) {
  if (state.after) return { first: state.size, after: state.after };
  if (state.before) return { last: state.size, before: state.before };
  if (state.last) return { last: state.size };
  return { first: state.size };
}

export async function render(main, ctx) {
  setTitle("Runs");
  if (![...ctx.query.keys()].length && lastQuery) {
    history.replaceState(null, "", `#/runs?${lastQuery}`);
    ctx = Object.assign(Object.create(ctx), { query: new URLSearchParams(lastQuery) });
  }
  let state = stateOf(ctx.query);
  const columns = visibleColumns();
  const unsubscribers = new Map();
  const rowsById = new Map();

  // --- search, filters, columns ---------------------------------------------------------
  const search = h("input", { type: "search", value: state.q, autocomplete: "off" });
  const searchForm = h(
    "form.search-form",
    { role: "search", onsubmit: (event) => {
      event.preventDefault();
      apply();
    } },
    field({ name: "q", label: "Search runs", input: search, hint: "Part of a model version, a username or the notes (3 characters or more), any case." }),
    h("button", { type: "submit" }, "Search"),
  );
  const statusBoxes = STATUSES.map((status) =>
    h("label.check", {}, h("input", { type: "checkbox", name: "status", value: status, checked: state.status.includes(status) }), ` ${status.toLowerCase()}`),
  );
  const user = h("input", { type: "search", value: state.user, autocomplete: "off" });
  const version = h("input", { type: "search", value: state.version, autocomplete: "off" });
  const tagsFilter = h("input", { type: "search", value: state.tags, autocomplete: "off" });
  const tagsAll = h("input", { type: "checkbox", checked: state.tagsAll });
  const from = h("input", { type: "date", value: state.from });
  const to = h("input", { type: "date", value: state.to });
  const size = h("select", {}, PAGE_SIZES.map((value) => h("option", { value, selected: value === state.size }, String(value))));
  const exactHint = "The whole name, exactly; Search finds parts of one.";
  const filters = h(
    "form.filters",
    { "aria-label": "Filter runs", onsubmit: (event) => {
      event.preventDefault();
      apply();
    } },
    h("fieldset.statuses", {}, h("legend", {}, "Status"), statusBoxes),
    field({ name: "trainedBy", label: "Trained by", input: user, hint: exactHint }),
    field({ name: "modelVersion", label: "Model version", input: version, hint: exactHint }),
    field({ name: "tags", label: "Tagged with", input: tagsFilter, hint: "Comma-separated; runs with any of them." }),
    h("label.check", {}, tagsAll, " Runs with every tag"),
    field({ name: "runDateFrom", label: "From", input: from }),
    field({ name: "runDateTo", label: "To", input: to }),
    field({ name: "pageSize", label: "Rows per page", input: size }),
    h("div.actions", {}, h("button", { type: "submit" }, "Apply")),
  );
  const columnBoxes = COLUMNS.filter(([key]) => key !== "version").map(([key, label]) =>
    h("label.check", {}, h("input", { type: "checkbox", value: key, checked: columns.has(key), onchange: chooseColumns }), ` ${label}`),
  );
  const columnChooser = h("details.card.columns-box", {}, h("summary", {}, "Columns"), h("fieldset.columns", {}, h("legend.visually-hidden", {}, "Columns to show"), columnBoxes));

  function chooseColumns() {
    columns.clear();
    columns.add("version");
    for (const label of columnBoxes) {
      const box = label.querySelector("input");
      if (box.checked) columns.add(box.value);
    }
    localStorage.setItem(COLUMNS_KEY, JSON.stringify([...columns]));
    drawHead();
    for (const entry of rowsById.values()) entry.tr.replaceChildren(entry.tr.firstChild, ...cells(entry.run));
  }

  // --- table --------------------------------------------------------------------------
  const count = h("p.count#runs-count", { role: "status", "aria-live": "polite" });
  const head = h("thead");
  const body = h("tbody");
  const table = h("table.runs", { "aria-describedby": "runs-count" }, h("caption.visually-hidden", {}, "Training runs"), head, body);
  const first = h("button.secondary", { type: "button", onclick: () => go({ after: "", before: "", last: false, at: 0 }) }, "⇤ First");
  const previous = h("button.secondary", { type: "button", onclick: () => page("previous") }, "← Previous");
  const next = h("button.secondary", { type: "button", onclick: () => page("next") }, "Next →");
  const lastPage = h("button.secondary", { type: "button", onclick: () => go({ after: "", before: "", last: true, at: -1 }) }, "Last ⇥");
  const compare = h("button", { type: "button", onclick: openComparison }, "Compare");
  const exportButton = h("button.secondary", { type: "button", onclick: exportCsv }, "Export CSV");
  const selection = h("p.selection", { "aria-live": "polite" });
  const error = h("div");
  let pageInfo = null;
  let rowsOnPage = 0;
  let total = 0;

  append(
    main,
    h("div.heading", {}, h("h1", {}, "Training runs"), exportButton),
    searchForm,
    // Folded on phones so the table comes first; open on wider screens.
    h("details.card.filter-box", { open: matchMedia("(min-width: 601px)").matches }, h("summary", {}, "Filters"), filters),
    columnChooser,
    h("div.card", {}, h("div.toolbar", {}, count, h("div.pager", {}, first, previous, next, lastPage)), error, scroller("Training runs table", table), h("div.toolbar", {}, selection, compare)),
  );

  function drawHead() {
    const headers = COLUMNS.filter(([key]) => columns.has(key) || key === "version").map(([key, label, , , order]) => {
      const sorted = order && state.sort === order;
      const sortAttr = sorted ? (state.dir === "ASC" ? "ascending" : "descending") : undefined;
      const content = order
        ? h(
            "button.sort",
            {
              type: "button",
              title: `Sort by ${label.toLowerCase()}`,
              onclick: () => go({ sort: order, dir: sorted && state.dir === "DESC" ? "ASC" : "DESC", after: "", before: "", last: false, at: 0 }),
            },
            label,
            sorted ? (state.dir === "ASC" ? " ▲" : " ▼") : "",
          )
        : label;
      return h(`th${NUMERIC.has(key) ? ".num" : ""}`, { scope: "col", "aria-sort": sortAttr, dataset: { column: key } }, content);
    });
    head.replaceChildren(h("tr", {}, h("th", { scope: "col" }, h("span.visually-hidden", {}, "Compare")), headers));
  }

  function readForm() {
    return {
      q: search.value.trim(),
      status: statusBoxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value),
      user: user.value.trim(),
      version: version.value.trim(),
      tags: tagsFilter.value.trim(),
      tagsAll: tagsAll.checked,
      from: from.value,
      to: to.value,
      size: Number(size.value),
    };
  }

  function apply() {
    const values = readForm();
    if (values.q && values.q.length < 3) {
      error.replaceChildren(h("p.problem", { role: "alert" }, "Search needs 3 characters or more."));
      search.focus();
      return;
    }
    go({ ...values, after: "", before: "", last: false, at: 0 });
  }

  /** A new table state: a history entry, then the rows. */
  function go(changes) {
    state = { ...state, ...changes };
    lastQuery = queryOf(state);
    history.pushState(null, "", `#/runs${lastQuery ? `?${lastQuery}` : ""}`);
    return load();
  }

  function updateSelection() {
    const count = selected.size;
    selection.textContent = count ? `${count} selected for comparison (2 to 10).` : "Tick 2 to 10 runs to compare them.";
    compare.disabled = count < 2 || count > 10;
  }

  function openComparison() {
    location.hash = `#/compare?ids=${[...selected.keys()].join(",")}`;
  }

  function page(where) {
    if (!pageInfo) return;
    if (where === "next") go({ after: pageInfo.endCursor, before: "", last: false, at: state.at + rowsOnPage });
    else go({ before: pageInfo.startCursor, after: "", last: false, at: Math.max(0, state.at - state.size) });
  }

  async function exportCsv() {
    const query = new URLSearchParams({ filter: JSON.stringify(filterOf(state)), orderBy: JSON.stringify({ field: state.sort, direction: state.dir }) });
    exportButton.disabled = true;
    try {
      await downloadFile(`/runs/export.csv?${query}`, "training-runs.csv");
      toast(`Exported ${int(total)} run(s) as CSV.`);
    } catch (failure) {
      toast(`Export failed: ${failure.offline ? "connection lost" : failure.message}`);
    } finally {
      exportButton.disabled = false;
    }
  }

  function cells(run) {
    // data-label names the column on phones, where each row becomes a card.
    return COLUMNS.filter(([key]) => columns.has(key) || key === "version").map(([key, label, cell]) =>
      h(`td${NUMERIC.has(key) ? ".num" : ""}`, { dataset: { label } }, key === "tags" ? tagsCell(run) : cell(run)),
    );
  }

  /** The tags of a run, with an "Edit" that turns them into a form (HR staff). */
  function tagsCell(run) {
    const chips = tagChips(run.tags);
    if (!ctx.user.canTrain) return chips;
    const box = h("div.tags-cell");
    const edit = h("button.link", {
      type: "button",
      "aria-label": `Edit the tags of ${run.modelVersion}`,
      onclick() {
        box.replaceChildren(tagEditor(run, ctx, (saved) => {
          run.tags = saved.tags;
          box.replaceWith(tagsCell(run));
        }));
        box.querySelector("input").focus();
      },
    }, "Edit");
    box.append(chips, edit);
    return box;
  }

  function row(run) {
    const key = String(run.databaseId);
    const box = h("input", {
      type: "checkbox",
      checked: selected.has(key),
      "aria-label": `Compare ${run.modelVersion}`,
      onchange() {
        if (box.checked) selected.set(key, run.modelVersion);
        else selected.delete(key);
        updateSelection();
      },
    });
    const tr = h("tr", { dataset: { runId: run.id, databaseId: key, status: run.status } }, h("td", {}, box), cells(run));
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

  // An answer to an older state (two quick clicks) is dropped, never drawn over a newer one.
  let loads = 0;
  async function load() {
    loads += 1;
    const mine = loads;
    error.replaceChildren();
    drawHead();
    main.setAttribute("aria-busy", "true");
    count.textContent = "Loading runs…";
    try {
      const [data, labels] = await Promise.all([
        ctx.gql(RUNS, { ...pageOf(state), filter: filterOf(state), orderBy: { field: state.sort, direction: state.dir } }),
        loadCatalogue(ctx.gql),
      ]);
      if (mine !== loads) return;
      const runs = data.trainingRuns;
      catalogue = labels;
      pageInfo = runs.pageInfo;
      rowsOnPage = runs.nodes.length;
      total = runs.totalCount;
      if (state.before && !pageInfo.hasPreviousPage) state.at = 0;
      if (state.last || state.at < 0) state.at = Math.max(0, total - rowsOnPage);
      stopFollowing();
      clear(body);
      if (!runs.nodes.length) {
        const hint = state.user || state.version ? " Trained by and Model version match whole names only." : "";
        body.append(h("tr", {}, h("td", { colspan: COLUMNS.length + 1 }, `No run matches.${hint}`)));
      }
      runs.nodes.forEach((run) => {
        body.append(row(run));
        follow(run);
      });
      const firstRow = runs.nodes.length ? state.at + 1 : 0;
      count.textContent = `Runs ${int(firstRow)}–${int(state.at + runs.nodes.length)} of ${int(total)}`;
      count.dataset.total = total;
      previous.disabled = !pageInfo.hasPreviousPage;
      first.disabled = !pageInfo.hasPreviousPage;
      next.disabled = !pageInfo.hasNextPage;
      lastPage.disabled = !pageInfo.hasNextPage;
    } catch (failure) {
      if (failure.name === "AbortError" || mine !== loads) return;
      count.textContent = "";
      error.replaceChildren(problem(failure, load));
    } finally {
      main.removeAttribute("aria-busy");
    }
  }

  // The running rows' elapsed time moves each second, between the server's updates.
  const ticker = setInterval(() => {
    for (const entry of rowsById.values()) {
      if (entry.run.status === "RUNNING") entry.tr.querySelector(".running")?.replaceWith(running(entry.run));
    }
  }, 1000);

  lastQuery = queryOf(state);
  updateSelection();
  await load();
  return () => {
    clearInterval(ticker);
    stopFollowing();
  };
}
