// The audit log (HR staff): every recorded mutation, login, token change and download,
// newest first, filtered by who, what, outcome and dates; "Load more" follows the
// connection's cursor (keyset pages, as the server reads them).
import { append, field, h, problem, scroller, setTitle } from "../dom.js";
import { dateValue, int } from "../format.js";

const AUDIT = `query Audit($first: Int, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      databaseId at username channel operation operationName arguments outcome errorCode
      requestId clientAddress
    }
  }
}`;

const OUTCOMES = ["OK", "ERROR", "FORBIDDEN", "UNAUTHENTICATED"];
const PAGE = 50;

function localDay(value, endOfDay) {
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, endOfDay ? day + 1 : day).toISOString();
}

function outcomeCell(entry) {
  const text = entry.outcome === "ERROR" && entry.errorCode ? `ERROR · ${entry.errorCode}` : entry.outcome;
  return h(`span.outcome-${entry.outcome.toLowerCase()}`, {}, text);
}

function row(entry) {
  const args = entry.arguments === null ? "—" : h("code.arguments", {}, JSON.stringify(entry.arguments));
  return h(
    "tr",
    { dataset: { entryId: String(entry.databaseId), operation: entry.operation, outcome: entry.outcome } },
    h("td", { dataset: { label: "When" } }, dateValue(entry.at)),
    h("td", { dataset: { label: "Who" } }, entry.username || "—"),
    h("td", { dataset: { label: "Operation" } }, entry.operation, entry.operationName ? h("span.small", {}, ` (${entry.operationName})`) : null),
    h("td", { dataset: { label: "Outcome" } }, outcomeCell(entry)),
    h("td", { dataset: { label: "Arguments" } }, args),
    h("td", { dataset: { label: "From" } }, `${entry.channel.toLowerCase()} · ${entry.clientAddress || "—"}`),
    h("td", { dataset: { label: "Request id" } }, entry.requestId ? h("code", {}, entry.requestId) : "—"),
  );
}

export async function render(main, ctx) {
  setTitle("Audit log");
  const username = h("input", { type: "search", autocomplete: "off", value: ctx.query.get("user") || "" });
  const operation = h("input", { type: "search", autocomplete: "off", value: ctx.query.get("operation") || "" });
  const outcome = h("select", {}, h("option", { value: "" }, "any"), OUTCOMES.map((value) => h("option", { value, selected: ctx.query.get("outcome") === value }, value)));
  const since = h("input", { type: "date" });
  const until = h("input", { type: "date" });
  const count = h("p.count#audit-count", { role: "status", "aria-live": "polite" });
  const body = h("tbody");
  const more = h("button.secondary", { type: "button", onclick: () => load(false) }, "Load more");
  const error = h("div");
  let after = null;
  let shown = 0;
  // An answer to an older request (Apply while the first page loads) is dropped, never
  // drawn beside a newer one.
  let loads = 0;

  const form = h(
    "form.filters",
    {
      "aria-label": "Filter the audit log",
      onsubmit(event) {
        event.preventDefault();
        load(true);
      },
    },
    field({ name: "username", label: "Who", input: username, hint: "A username, exactly." }),
    field({ name: "operation", label: "Operation", input: operation, hint: "e.g. trainModel, login, downloadModel; comma-separated." }),
    field({ name: "outcome", label: "Outcome", input: outcome }),
    field({ name: "since", label: "From", input: since }),
    field({ name: "until", label: "To", input: until }),
    h("div.actions", {}, h("button", { type: "submit" }, "Apply")),
  );

  function filter() {
    const operations = operation.value.split(",").map((name) => name.trim()).filter(Boolean);
    return {
      ...(username.value.trim() ? { username: username.value.trim() } : {}),
      ...(operations.length ? { operation: operations } : {}),
      ...(outcome.value ? { outcome: [outcome.value] } : {}),
      ...(since.value ? { since: localDay(since.value, false) } : {}),
      ...(until.value ? { until: localDay(until.value, true) } : {}),
    };
  }

  async function load(fresh) {
    loads += 1;
    const mine = loads;
    error.replaceChildren();
    if (fresh) {
      after = null;
      shown = 0;
      body.replaceChildren();
    }
    main.setAttribute("aria-busy", "true");
    try {
      const data = await ctx.gql(AUDIT, { first: PAGE, after, filter: filter() });
      if (mine !== loads) return;
      const log = data.auditLog;
      for (const entry of log.nodes) body.append(row(entry));
      shown += log.nodes.length;
      after = log.pageInfo.endCursor;
      more.hidden = !log.pageInfo.hasNextPage;
      count.textContent = `${int(shown)} of ${int(log.totalCount)} entries, newest first`;
      count.dataset.total = log.totalCount;
      if (!shown) body.append(h("tr", {}, h("td", { colspan: 7 }, "No entry matches.")));
    } catch (failure) {
      if (failure.name === "AbortError" || mine !== loads) return;
      error.replaceChildren(problem(failure, () => load(fresh)));
    } finally {
      main.removeAttribute("aria-busy");
    }
  }

  append(
    main,
    h("div.heading", {}, h("h1", {}, "Audit log")),
    h("p", {}, "Every change, sign-in, token and download, with who, what and the outcome. Secrets and file contents are never recorded."),
    h("details.card.filter-box", { open: matchMedia("(min-width: 601px)").matches }, h("summary", {}, "Filters"), form),
    h(
      "div.card",
      {},
      count,
      error,
      scroller(
        "Audit log table",
        h(
          "table.audit",
          { "aria-describedby": "audit-count" },
          h("caption.visually-hidden", {}, "Audit log"),
          h("thead", {}, h("tr", {}, ["When", "Who", "Operation", "Outcome", "Arguments", "From", "Request id"].map((label) => h("th", { scope: "col" }, label)))),
          body,
        ),
      ),
      h("div.toolbar", {}, more),
    ),
  );
  await load(true);
  return null;
}
