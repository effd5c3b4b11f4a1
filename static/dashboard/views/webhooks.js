// Webhooks (HR staff): the endpoints told of runs and alias moves, a form to add one (its
// signing secret is shown once, here), and each webhook's deliveries with every attempt
// (status code, duration, error) and a Redeliver button.
import { append, cards, field, h, scroller, section, setTitle, toast } from "../dom.js";
import { dateValue } from "../format.js";

const EVENTS = ["RUN_COMPLETED", "RUN_FAILED", "ALIAS_CHANGED", "SWEEP_COMPLETED", "EVALUATION_COMPLETED", "SCHEDULE_FAILED"];

const LIST = `query Webhooks {
  webhooks { id databaseId url events description active createdAt createdByUsername }
}`;

const DELIVERIES = `query Deliveries($id: ID) {
  webhookDeliveries(webhookId: $id, first: 50) {
    id databaseId webhookDatabaseId eventType status attempts messageId
    lastStatusCode lastDurationMs lastError createdAt deliveredAt
    attemptLog { attempt statusCode durationMs error attemptedAt }
  }
}`;

const CREATE = `mutation CreateWebhook($url: String!, $events: [WebhookEventType!]!, $description: String!) {
  createWebhook(url: $url, events: $events, description: $description) {
    webhook { id databaseId } secret errors { field message code }
  }
}`;

const UPDATE = `mutation PauseWebhook($id: ID!, $active: Boolean!) {
  updateWebhook(id: $id, active: $active) { webhook { id active } errors { message code } }
}`;

const ROTATE = `mutation RotateSecret($id: ID!) {
  rotateWebhookSecret(id: $id) { secret errors { message code } }
}`;

const DELETE = `mutation DeleteWebhook($id: ID!) {
  deleteWebhook(id: $id) { deletedDatabaseId errors { message code } }
}`;

const REDELIVER = `mutation Redeliver($id: ID!) {
  redeliverWebhook(deliveryId: $id) { delivery { id status } errors { message code } }
}`;

// A secret to show on the next render only (createWebhook re-renders the page to list the
// new webhook); kept nowhere else, so leaving the page forgets it.
let secretToShow = null;

/** The secret, shown once: after createWebhook or rotateWebhookSecret, never again. */
function secretPanel(secret, what) {
  return h(
    "div.secret",
    { role: "status", dataset: { secret: "shown" } },
    h("p", {}, h("strong", {}, `${what}: copy this signing secret now.`), " It is not shown again; verify deliveries with it (Standard Webhooks)."),
    h("code", { dataset: { value: "secret" } }, secret),
  );
}

/** Run a button's request: a failure is said in a toast; leaving the page (which aborts
 * the request) says nothing. */
async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (error?.name !== "AbortError") toast(error.message);
  }
}

function createForm(ctx, onCreated) {
  const url = h("input", { type: "url", required: true, spellcheck: "false" });
  const description = h("input", { type: "text", maxlength: 500 });
  const boxes = EVENTS.map((name) => h("input", { type: "checkbox", value: name, checked: name.startsWith("RUN_") }));
  const events = h(
    "fieldset.events",
    { dataset: { field: "events" } },
    h("legend", {}, "Events"),
    boxes.map((box) => h("label.check", {}, box, ` ${box.value}`)),
    h("p.field-error", { dataset: { errorFor: "events" } }),
  );
  const outcome = h("div.outcome");
  const form = h(
    "form",
    {
      async onsubmit(event) {
        event.preventDefault();
        for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
        outcome.replaceChildren();
        const chosen = boxes.filter((box) => box.checked).map((box) => box.value);
        try {
          const result = (await ctx.gql(CREATE, { url: url.value.trim(), events: chosen, description: description.value })).createWebhook;
          if (result.errors.length) {
            for (const error of result.errors) {
              const slot = form.querySelector(`[data-error-for="${error.field?.at(-1) || "url"}"]`);
              if (slot) slot.textContent = `${error.message} (${error.code})`;
            }
            return;
          }
          form.reset();
          onCreated(result.secret);
        } catch (failure) {
          outcome.append(h("p.error", { role: "alert" }, failure.message));
        }
      },
    },
    field({ name: "url", label: "URL", input: url, hint: "An http(s) address, e.g. of your HR tool's hook; private and loopback addresses are refused." }),
    events,
    field({ name: "description", label: "Description", input: description, hint: "What receives it (optional)." }),
    h("div.actions", {}, h("button", { type: "submit" }, "Create webhook")),
    outcome,
  );
  return section("New webhook", form);
}

function deliveryRows(ctx, deliveries, refresh) {
  return deliveries.map((delivery) =>
    h(
      "tr",
      { dataset: { delivery: delivery.databaseId, status: delivery.status } },
      h("td", {}, delivery.eventType),
      h("td", {}, h(`span.badge.delivery-${delivery.status.toLowerCase()}`, {}, delivery.status)),
      h("td.num", { dataset: { label: "Attempts" } }, delivery.attempts),
      h("td.num", { dataset: { label: "Status code" } }, delivery.lastStatusCode ?? "—"),
      h("td.num", { dataset: { label: "Duration" } }, delivery.lastDurationMs == null ? "—" : `${Math.round(delivery.lastDurationMs)} ms`),
      h("td", {}, delivery.lastError || "—"),
      h("td", {}, dateValue(delivery.createdAt)),
      h(
        "td",
        {},
        delivery.attemptLog.length
          ? h(
              "details",
              {},
              h("summary", {}, `${delivery.attemptLog.length} attempt${delivery.attemptLog.length === 1 ? "" : "s"}`),
              h(
                "ol.history",
                {},
                delivery.attemptLog.map((attempt) => h("li", {}, `#${attempt.attempt}: ${attempt.statusCode ?? "no answer"}, ${Math.round(attempt.durationMs)} ms${attempt.error ? `, ${attempt.error}` : ""} — `, dateValue(attempt.attemptedAt))),
              ),
            )
          : "—",
      ),
      h(
        "td",
        {},
        h(
          "button.secondary",
          {
            type: "button",
            "aria-label": `Redeliver delivery ${delivery.databaseId}`,
            onclick: () =>
              guarded(async () => {
                const result = (await ctx.gql(REDELIVER, { id: delivery.id })).redeliverWebhook;
                if (result.errors.length) toast(result.errors[0].message);
                else {
                  toast(`Delivery ${delivery.databaseId} will be sent again.`);
                  refresh();
                }
              }),
          },
          "Redeliver",
        ),
      ),
    ),
  );
}

export async function render(main, ctx) {
  setTitle("Webhooks");
  const selected = ctx.query.get("webhook");
  const [{ webhooks }, { webhookDeliveries }] = await Promise.all([ctx.gql(LIST), ctx.gql(DELIVERIES, { id: selected })]);
  const refresh = () => ctx.navigate(location.hash);
  const secretSlot = h("div.outcome");
  if (secretToShow) secretSlot.append(secretPanel(secretToShow, "Webhook created"));
  secretToShow = null;
  const created = (secret) => {
    secretToShow = secret;
    refresh();
  };

  const act = (document, variables, done) =>
    guarded(async () => {
      const [result] = Object.values(await ctx.gql(document, variables));
      if (result.errors.length) toast(result.errors[0].message);
      else done(result);
    });

  const rows = webhooks.map((webhook) =>
    h(
      "tr",
      { dataset: { webhook: webhook.databaseId } },
      h("th", { scope: "row" }, h("a", { href: `#/webhooks?webhook=${webhook.databaseId}` }, webhook.url)),
      h("td", {}, webhook.events.join(", ")),
      h("td", {}, webhook.description || "—"),
      h("td", {}, webhook.active ? "active" : "paused"),
      h("td", {}, webhook.createdByUsername || "—", ", ", dateValue(webhook.createdAt)),
      h(
        "td.actions",
        {},
        h("button.secondary", { type: "button", "aria-label": `${webhook.active ? "Pause" : "Resume"} ${webhook.url}`, onclick: () => act(UPDATE, { id: webhook.id, active: !webhook.active }, refresh) }, webhook.active ? "Pause" : "Resume"),
        h(
          "button.secondary",
          {
            type: "button",
            "aria-label": `Rotate the secret of ${webhook.url}`,
            onclick: () => {
              if (!confirm("Give this webhook a new secret? The old one stops at once.")) return;
              act(ROTATE, { id: webhook.id }, (result) => secretSlot.replaceChildren(secretPanel(result.secret, "Secret rotated")));
            },
          },
          "Rotate secret",
        ),
        h(
          "button.secondary",
          {
            type: "button",
            "aria-label": `Delete ${webhook.url}`,
            onclick: () => {
              if (confirm(`Delete the webhook to ${webhook.url} and its deliveries?`)) act(DELETE, { id: webhook.id }, refresh);
            },
          },
          "Delete",
        ),
      ),
    ),
  );
  const shownFor = selected ? webhooks.find((webhook) => String(webhook.databaseId) === selected) : null;
  append(
    main,
    h("div.heading", {}, h("h1", {}, "Webhooks")),
    h("p.small", {}, "HR tools are told when a run completes or fails and when an alias moves, signed per Standard Webhooks; failed deliveries are retried with backoff."),
    createForm(ctx, created),
    section(
      "Registered webhooks",
      secretSlot,
      scroller(
        "Webhook list",
        cards(h(
          "table.webhooks",
          {},
          h("thead", {}, h("tr", {}, ["URL", "Events", "Description", "State", "Created", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6 }, "No webhook yet."))),
        )),
      ),
    ),
    section(
      shownFor ? `Deliveries to ${shownFor.url}` : "Latest deliveries",
      selected ? h("p.small", {}, h("a", { href: "#/webhooks" }, "All webhooks' deliveries")) : null,
      scroller(
        "Delivery list",
        cards(h(
          "table.deliveries",
          {},
          h("thead", {}, h("tr", {}, ["Event", "Status", "Attempts", "Status code", "Duration", "Error", "Created", "Attempt log", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, webhookDeliveries.length ? deliveryRows(ctx, webhookDeliveries, refresh) : h("tr", {}, h("td", { colspan: 9 }, "No delivery yet."))),
        )),
      ),
    ),
  );
  return null;
}
