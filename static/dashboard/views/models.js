// Model aliases (on servers with Query.modelAliases / Mutation.setModelAlias): each alias,
// the run it points at and its history; promote a run from its page; HR staff only write.
import { append, cards, field, h, scroller, section, setTitle, toast } from "../dom.js";
import { dateValue, pctValue } from "../format.js";

// setByUsername, not setBy { username }: setBy is HR staff's to read, the name is everyone's.
const ALIASES = `query Aliases {
  modelAliases {
    alias run { id databaseId modelVersion status accuracy f1Score } setByUsername setAt
    history { run { id databaseId modelVersion } setByUsername setAt }
  }
}`;

const SET = `mutation Promote($alias: String!, $runId: ID!) {
  setModelAlias(alias: $alias, runId: $runId) {
    modelAlias { alias run { id modelVersion } setAt }
    errors { field message code }
  }
}`;

const DELETE = `mutation DeleteAlias($alias: String!) {
  deleteModelAlias(alias: $alias) { deletedAlias errors { field message code } }
}`;

function runLink(run) {
  return run ? h("a", { href: `#/runs/${run.databaseId}` }, run.modelVersion) : "—";
}

/** The run page's "promote" form (HR staff, COMPLETED runs); `onPromoted(alias)` lets the
 * page show the new alias at once. */
export function promoteForm(run, ctx, onPromoted) {
  const alias = h("input", { type: "text", value: "production", spellcheck: "false" });
  const error = h("p.error", { role: "alert" });
  const form = h(
    "form.inline",
    {
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = "";
        const slot = form.querySelector('[data-error-for="alias"]');
        slot.textContent = "";
        try {
          const result = (await ctx.gql(SET, { alias: alias.value.trim(), runId: run.id })).setModelAlias;
          if (result.errors.length) {
            slot.textContent = result.errors.map((e) => `${e.message} (${e.code})`).join(" ");
            return;
          }
          toast(`${result.modelAlias.alias} now points at ${result.modelAlias.run.modelVersion}.`);
          form.dataset.promoted = result.modelAlias.alias;
          onPromoted?.(result.modelAlias.alias);
        } catch (failure) {
          error.textContent = failure.message;
        }
      },
    },
    field({ name: "alias", label: "Alias", input: alias, hint: "e.g. production, staging." }),
    error,
    h("div.actions", {}, h("button", { type: "submit" }, "Promote")),
  );
  return section("Promote this model", form);
}

export async function render(main, ctx) {
  setTitle("Models");
  const { modelAliases } = await ctx.gql(ALIASES);
  const rows = modelAliases.map((entry) =>
    h(
      "tr",
      { dataset: { alias: entry.alias } },
      h("th", { scope: "row" }, entry.alias),
      h("td", {}, runLink(entry.run)),
      h("td.num", { dataset: { label: "Accuracy" } }, pctValue(entry.run?.accuracy)),
      h("td.num", { dataset: { label: "F1" } }, pctValue(entry.run?.f1Score)),
      h("td", {}, entry.setByUsername || "—"),
      h("td", {}, dateValue(entry.setAt)),
      h(
        "td",
        {},
        entry.history.length
          ? h("details", {}, h("summary", {}, `${entry.history.length} earlier`), h("ol.history", {}, entry.history.map((past) => h("li", {}, runLink(past.run), ` by ${past.setByUsername || "—"}, `, dateValue(past.setAt)))))
          : "—",
      ),
      ctx.user.canTrain
        ? h(
            "td",
            {},
            h("button.secondary", {
              type: "button",
              "aria-label": `Delete alias ${entry.alias}`,
              async onclick() {
                if (!confirm(`Delete the alias ${entry.alias}?`)) return;
                const result = (await ctx.gql(DELETE, { alias: entry.alias })).deleteModelAlias;
                if (result.errors.length) toast(result.errors[0].message);
                else ctx.navigate(location.hash);
              },
            }, "Delete"),
          )
        : null,
    ),
  );
  append(
    main,
    h("div.heading", {}, h("h1", {}, "Models")),
    section(
      "Aliases",
      h(
        "p.small",
        {},
        ctx.user.canTrain
          ? "Promote a completed run from its page; predictions use an alias or a version."
          : "Which model each alias points at; HR staff move the aliases. Predictions use an alias or a version.",
      ),
      scroller(
        "Model aliases",
        cards(h(
          "table.aliases",
          {},
          h("thead", {}, h("tr", {}, ["Alias", "Run", "Accuracy", "F1", "Set by", "Set at", "History"].map((label) => h("th", { scope: "col" }, label)), ctx.user.canTrain ? h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")) : null)),
          h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No alias yet."))),
        )),
      ),
    ),
  );
  if (ctx.user.canTrain) append(main, (await import("./gate.js")).gateForm(ctx));
  return null;
}
