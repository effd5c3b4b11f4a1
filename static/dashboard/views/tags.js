// A run's tags and notes: the chips the runs table and the run page show, and the
// editors HR staff change them with (updateTrainingRun). Tags are typed comma-separated;
// the server trims and lower-cases them and says which one it refused ("tags", index).
import { field, h, toast } from "../dom.js";

export const UPDATE_RUN = `mutation UpdateRun($id: ID!, $notes: String, $tags: [String!]) {
  updateTrainingRun(id: $id, notes: $notes, tags: $tags) {
    trainingRun { id notes tags }
    errors { field message code }
  }
}`;

/** "a, B ,c" → ["a", "B", "c"] (the server normalises case and spaces). */
export function parseTags(text) {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
}

export function tagChips(tags) {
  if (!tags?.length) return h("span.tags.none", {}, "—");
  return h(
    "ul.tags",
    {},
    tags.map((tag) => h("li.tag", {}, tag)),
  );
}

/** The server's refusals as one sentence naming the tag each one is about. */
function refusal(errors, tags) {
  return errors
    .map((error) => {
      const index = error.field?.[0] === "tags" && error.field.length > 1 ? Number(error.field[1]) : null;
      const which = index === null ? "" : `"${tags[index]}": `;
      return `${which}${error.message} (${error.code})`;
    })
    .join(" ");
}

/** An inline "tags" editor for one run; `onSaved(run)` gets { id, notes, tags }. */
export function tagEditor(run, ctx, onSaved) {
  const input = h("input", { type: "text", value: (run.tags || []).join(", "), spellcheck: "false", autocomplete: "off" });
  const slot = h("p.field-error", { role: "alert", dataset: { errorFor: "tags" } });
  const form = h(
    "form.tag-editor",
    {
      async onsubmit(event) {
        event.preventDefault();
        slot.textContent = "";
        const tags = parseTags(input.value);
        try {
          const result = (await ctx.gql(UPDATE_RUN, { id: run.id, tags })).updateTrainingRun;
          if (result.errors.length) {
            slot.textContent = refusal(result.errors, tags);
            input.focus();
            return;
          }
          form.dataset.saved = result.trainingRun.tags.join(",");
          toast(result.trainingRun.tags.length ? `Tags saved: ${result.trainingRun.tags.join(", ")}.` : "Tags removed.");
          onSaved?.(result.trainingRun);
        } catch (failure) {
          slot.textContent = failure.message;
        }
      },
    },
    h("label.visually-hidden", { for: `run-tags-${run.databaseId}` }, `Tags of ${run.modelVersion}`),
    input,
    h("button.secondary", { type: "submit" }, "Save tags"),
    slot,
  );
  input.id = `run-tags-${run.databaseId}`;
  return form;
}

/** The run page's "Notes and tags" form (HR staff). */
export function notesForm(run, ctx, onSaved) {
  const notes = h("textarea", { rows: 4, maxlength: 5000 }, run.notes || "");
  const tags = h("input", { type: "text", value: (run.tags || []).join(", "), spellcheck: "false", autocomplete: "off" });
  const form = h(
    "form.notes-form",
    {
      async onsubmit(event) {
        event.preventDefault();
        for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
        const sent = parseTags(tags.value);
        try {
          const result = (await ctx.gql(UPDATE_RUN, { id: run.id, notes: notes.value, tags: sent })).updateTrainingRun;
          if (result.errors.length) {
            for (const error of result.errors) {
              const name = error.field?.[0] === "notes" ? "notes" : "tags";
              const slot = form.querySelector(`[data-error-for="${name}"]`);
              slot.textContent = `${slot.textContent} ${refusal([error], sent)}`.trim();
            }
            return;
          }
          tags.value = result.trainingRun.tags.join(", ");
          form.dataset.saved = "true";
          toast("Notes and tags saved.");
          onSaved?.(result.trainingRun);
        } catch (failure) {
          form.querySelector('[data-error-for="tags"]').textContent = failure.message;
        }
      },
    },
    field({ name: "notes", label: "Notes", input: notes, hint: "Up to 5,000 characters; searched by the runs list." }),
    field({ name: "tags", label: "Tags", input: tags, hint: "Comma-separated; stored in lower case, up to 32 characters each, 20 per run." }),
    h("div.actions", {}, h("button", { type: "submit" }, "Save notes and tags")),
  );
  return form;
}
