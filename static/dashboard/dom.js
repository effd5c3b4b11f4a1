// Building the page without innerHTML: every value from the API becomes text, never markup.

/** h("tag.class#id", {attr: value, onclick: fn}, ...children) → an element. */
export function h(spec, attrs = {}, ...children) {
  const [tagAndClasses, id] = spec.split("#");
  const [tag, ...classes] = tagAndClasses.split(".");
  const element = document.createElement(tag || "div");
  if (id) element.id = id;
  if (classes.length) element.classList.add(...classes);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Like Node.append, but skips null, undefined and false (Node.append writes "null"). */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** A column name that may wrap after its underscores (training_<wbr>requests), never
 * inside a word: on a phone, "training_requests" broke as "training_reque / sts". */
export function wrappable(name) {
  return String(name)
    .split("_")
    .flatMap((part, i) => (i === 0 ? [part] : ["_", h("wbr"), part]));
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let uid = 0;
/** A unique id for label/aria pairs. */
export function uniqueId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field with a hint and an error slot the server's errors.field fills. */
export function field({ name, label, input, hint }) {
  const id = input.id || uniqueId(name);
  input.id = id;
  input.name = input.name || name;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  input.setAttribute("aria-describedby", `${hintId} ${errorId}`);
  return h(
    "div.field",
    { dataset: { field: name } },
    h("label", { for: id }, label),
    input,
    h("p.hint", { id: hintId }, hint || ""),
    h("p.field-error", { id: errorId, dataset: { errorFor: name } }),
  );
}

export function statusBadge(status) {
  // Text and an icon-like symbol as well as a colour: colour is never the only signal.
  const symbols = { QUEUED: "◷", RUNNING: "▶", COMPLETED: "✓", FAILED: "✕", CANCELLED: "⊘" };
  return h(`span.badge.status-${(status || "").toLowerCase()}`, {}, `${symbols[status] || ""} ${status}`);
}

export function section(title, ...children) {
  const id = uniqueId("section");
  return h("section.card", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export function toast(message) {
  const element = document.getElementById("toast");
  element.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    element.textContent = "";
  }, 5000);
}

/** A table shown as one card per row on a phone (dashboard.css, table.cards), so that a
 * row's last columns (its Download, Pause or Redeliver buttons) are not hidden behind a
 * sideways scroll. Each cell is labelled with its column's header, for the rows there
 * now and those a view puts in later (views refresh their tbody); the actions column
 * (headed "Actions", shown or visually hidden) takes a card's whole width, unlabelled. */
export function cards(table) {
  table.classList.add("cards");
  const label = () => {
    const headers = [...(table.tHead?.rows[0]?.cells || [])];
    for (const row of table.tBodies[0]?.rows || []) {
      for (const [index, cell] of [...row.cells].entries()) {
        const header = headers[index];
        if (!header || cell.colSpan > 1 || "label" in cell.dataset || cell.classList.contains("card-wide")) continue;
        if (header.querySelector(".visually-hidden") || header.textContent.trim() === "Actions") cell.classList.add("card-wide");
        else cell.dataset.label = header.textContent.trim();
      }
    }
  };
  label();
  new MutationObserver(label).observe(table, { childList: true, subtree: true });
  return table;
}

/** A table in a box that scrolls sideways on narrow screens: focusable (tabindex 0) and
 * named, so a keyboard user can scroll it too. */
export function scroller(label, ...children) {
  return h("div.table-scroll", { tabindex: "0", role: "region", "aria-label": label }, ...children);
}

/** What went wrong, said in the view, with a way to try again. A lost connection is named
 * as such (the shell's banner says so too). Nothing for an abort: the user left. */
export function problem(error, retry) {
  if (error?.name === "AbortError") return null;
  const text = error?.offline ? "Connection lost: the server could not be reached. Nothing was changed." : error?.message || String(error);
  return h(
    "div.problem",
    { role: "alert", dataset: { offline: error?.offline ? "true" : "false" } },
    h("p", {}, text),
    retry ? h("button.secondary", { type: "button", onclick: retry }, "Retry") : null,
  );
}

/** The tab's title: the view first, so tabs and history entries tell views apart. */
export function setTitle(text) {
  document.title = `${text} · Future Skills dashboard`;
}
