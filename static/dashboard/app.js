// The dashboard's shell: session, capabilities, navigation and the hash router, which owns
// the page: each navigation gets a fresh root element and an AbortController, and starting
// the next one aborts the previous view's requests, so nothing it was still waiting for
// can render into the next view (a slow run page once drew its Promote form into History).
import { ApiError, connection, gql, session } from "./api.js";
import { append, clear, h, problem, setTitle, toast } from "./dom.js";
import { live } from "./live.js";

const view = document.getElementById("view");
const top = document.getElementById("top");
const banner = document.getElementById("connection");
const menuButton = document.getElementById("menu-button");
const menuCurrent = document.getElementById("menu-current");
// Where a signed-out visitor was going (a shared link): sign-in continues there.
const NEXT_KEY = "future-skills.next";

const ROUTES = [
  { pattern: /^\/login$/, load: () => import("./views/login.js"), public: true },
  { pattern: /^\/runs$/, load: () => import("./views/runs.js"), nav: "Runs" },
  { pattern: /^\/runs\/([^/]+)$/, load: () => import("./views/run.js") },
  { pattern: /^\/train$/, load: () => import("./views/train.js"), nav: "Train", needs: (ctx) => ctx.user.canTrain, refused: "HR staff only" },
  { pattern: /^\/compare$/, load: () => import("./views/compare.js"), nav: "Compare" },
  { pattern: /^\/history$/, load: () => import("./views/history.js"), nav: "History" },
  { pattern: /^\/models$/, load: () => import("./views/models.js"), nav: "Models" },
  { pattern: /^\/predict$/, load: () => import("./views/predict.js"), nav: "Predict" },
  { pattern: /^\/webhooks$/, load: () => import("./views/webhooks.js"), nav: "Webhooks", needs: (ctx) => ctx.user.canTrain, refused: "HR staff only" },
  { pattern: /^\/schedules$/, load: () => import("./views/schedules.js"), nav: "Schedules" },
  { pattern: /^\/audit$/, load: () => import("./views/audit.js"), nav: "Audit", needs: (ctx) => ctx.user.canTrain, refused: "HR staff only" },
  { pattern: /^\/sweeps$/, load: () => import("./views/sweeps.js"), nav: "Sweeps" },
  { pattern: /^\/sweeps\/([^/]+)$/, load: () => import("./views/sweeps.js") },
];

const SESSION = "query Session { viewer { username canTrain groups } }";

const ctx = { user: null, params: [], query: new URLSearchParams(), navigate };
let cleanup = null;
let current = null; // the navigation being shown: { controller }

/** Who is signed in; null when the token does not work. */
async function loadSession() {
  if (!session.token) return null;
  try {
    const data = await gql(SESSION);
    return data.viewer ? { user: data.viewer } : null;
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") return null;
    throw error;
  }
}

export async function signedIn(token) {
  session.token = token;
  const loaded = await loadSession();
  if (!loaded) throw new Error("The new token was refused.");
  Object.assign(ctx, loaded);
  renderShell();
  const next = sessionStorage.getItem(NEXT_KEY);
  sessionStorage.removeItem(NEXT_KEY);
  navigate(next && !next.startsWith("#/login") ? next : "#/runs");
}

async function signOut() {
  live.reset();
  try {
    if (session.token) await gql("mutation SignOut { logout { revoked } }");
  } catch {
    // Revoked or expired already: signing out locally is all that is left to do.
  }
  session.token = null;
  ctx.user = null;
  renderShell();
  navigate("#/login");
  toast("Signed out.");
}

// The phone menu (dashboard.css hides the button on wide screens, where the links always
// show): the button says where you are and opens the links and the account below the bar;
// choosing a page, Escape or a click elsewhere closes it.
function setMenu(open) {
  menuButton.setAttribute("aria-expanded", String(open));
  top.classList.toggle("menu-open", open);
}

function menuOpen() {
  return menuButton.getAttribute("aria-expanded") === "true";
}

menuButton.addEventListener("click", () => setMenu(!menuOpen()));
document.getElementById("menu").addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link) return;
  setMenu(false);
  // The page already shown: no hashchange, so no heading takes the focus the hidden link had.
  if (link.getAttribute("href") === location.hash) menuButton.focus();
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !menuOpen()) return;
  setMenu(false);
  menuButton.focus();
});
document.addEventListener("click", (event) => {
  if (menuOpen() && !top.contains(event.target)) setMenu(false);
});

// The bar folds behind "Menu" (dashboard.css, .top.folded) when its links do not fit on
// the brand's line (the account may wrap below them): measured rather than set at one
// width, as the links depend on who signed in (eleven for HR staff, eight for managers).
function fitBar() {
  if (top.hidden) return;
  top.classList.remove("folded");
  const line = top.querySelector(".brand").getBoundingClientRect();
  const middle = (box) => (box.top + box.bottom) / 2;
  const links = [...top.querySelectorAll("#nav a")];
  const wraps = links.some((link) => Math.abs(middle(link.getBoundingClientRect()) - middle(line)) > line.height);
  top.classList.toggle("folded", wraps);
}
window.addEventListener("resize", fitBar);

function renderShell() {
  top.hidden = !ctx.user;
  setMenu(false);
  const nav = clear(document.getElementById("nav"));
  if (!ctx.user) {
    banner.hidden = true;
    return;
  }
  live.start();
  // Every view's module now, while the server is reachable: a view opened after the
  // connection is lost then says so instead of "Failed to fetch dynamically imported module".
  for (const candidate of ROUTES) candidate.load().catch(() => {});
  for (const route of ROUTES) {
    if (!route.nav || (route.needs && !route.needs(ctx))) continue;
    const href = `#/${route.nav.toLowerCase()}`;
    nav.append(h("li", {}, h("a", { href, dataset: { nav: route.nav.toLowerCase() } }, route.nav)));
  }
  nav.append(h("li", {}, h("a", { href: "/graphql" }, "GraphiQL")));
  const roles = ctx.user.canTrain ? "HR staff" : "read only";
  document.getElementById("who").textContent = `${ctx.user.username} (${roles})`;
  fitBar();
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const [path, search] = (location.hash.slice(1) || "/runs").split("?");
  if (!ctx.user && path !== "/login") {
    if (location.hash && location.hash !== "#/") sessionStorage.setItem(NEXT_KEY, location.hash);
    navigate("#/login");
    return;
  }
  const match = ROUTES.map((candidate) => [candidate, path.match(candidate.pattern)]).find(([, found]) => found);
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  current?.controller.abort();
  const controller = new AbortController();
  const navigation = { controller };
  current = navigation;
  let here = null;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.nav && path.startsWith(`/${link.dataset.nav}`)) {
      link.setAttribute("aria-current", "page");
      here = link.textContent;
    } else link.removeAttribute("aria-current");
  }
  menuCurrent.replaceChildren(...(here ? [": ", h("strong", {}, here)] : []));
  setMenu(false);
  // A fresh root per navigation: a view that outlives its navigation holds a detached root.
  const root = h("div.view-root");
  const loading = h("p.loading", { role: "status" }, "Loading…");
  view.replaceChildren(loading, root);
  const params = match && decodedParams(match[1]);
  const [definition] = match || [];
  if (!params || (definition.needs && !definition.needs(ctx))) {
    loading.remove();
    // Named like a shown view's (below), so #view always says which page it holds.
    view.dataset.view = (params && definition.nav?.toLowerCase()) || "not-found";
    const title = (params && definition.refused) || "Not found";
    setTitle(title);
    // append() skips the null paragraph of "Not found" (Node.append would write "null").
    append(
      root,
      h("h1", { tabindex: "-1" }, title),
      title === "Not found" ? null : h("p", {}, "Training is for HR staff (the DRH and RESPONSABLE_RH groups). You can read the runs, compare them and see their history."),
      h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")),
    );
    focusHeading(root);
    return;
  }
  // What a view sees: the shell's ctx, plus this navigation's params, signal and gql.
  const page = Object.assign(Object.create(ctx), {
    params,
    query: new URLSearchParams(search || ""),
    signal: controller.signal,
    gql: (query, variables) => gql(query, variables, { signal: controller.signal }),
  });
  setTitle(definition.nav || (path.startsWith("/runs/") ? "Run" : "Sign in"));
  view.setAttribute("aria-busy", "true");
  try {
    const module = await definition.load();
    if (current !== navigation) return;
    const done = (await module.render(root, page)) || null;
    if (current !== navigation) {
      done?.();
      return;
    }
    cleanup = done;
  } catch (error) {
    if (current !== navigation || error.name === "AbortError") return;
    clear(root).append(h("h1", { tabindex: "-1" }, error.offline ? "Connection lost" : "Something went wrong"), problem(error, () => route()));
  } finally {
    if (current === navigation) {
      loading.remove();
      view.removeAttribute("aria-busy");
      view.dataset.view = definition.nav?.toLowerCase() || path.split("/")[1];
      focusHeading(root);
    }
  }
}

/** After a page change the focus goes to the new view's heading (shown with a ring), so a
 * keyboard or screen-reader user starts there; not when a control in the view has it. */
function focusHeading(root) {
  if (document.activeElement !== document.body && view.contains(document.activeElement) && document.activeElement !== view) return;
  const heading = root.querySelector("h1");
  if (!heading) {
    view.focus();
    return;
  }
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

// A hand-edited or truncated link (`#/runs/%E0%A4%A`) is not a page: decodeURIComponent
// throws on a malformed escape, and that would leave the view blank with nothing said.
function decodedParams(found) {
  try {
    return found.slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
}

// "Connection lost" for everyone signed in, within seconds of the socket dropping, until it
// is back; requests made meanwhile say so in their view too, with a retry.
connection.onChange((state) => {
  if (state === "lost" && ctx.user) {
    banner.replaceChildren(
      h("p", {}, h("strong", {}, "Connection lost. "), "The server cannot be reached: live updates are paused and the dashboard keeps trying."),
      h("button.secondary", { type: "button", onclick: () => live.retryNow() }, "Retry now"),
    );
    banner.hidden = false;
  } else if (state === "online" && !banner.hidden) {
    banner.hidden = true;
    toast("Connection restored.");
  }
});

session.onExpired(() => {
  // Signing in again comes back here.
  if (!location.hash.startsWith("#/login")) sessionStorage.setItem(NEXT_KEY, location.hash);
  live.reset();
  session.token = null;
  ctx.user = null;
  renderShell();
  navigate("#/login");
  toast("Your session ended: sign in again.");
});

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);

(async () => {
  const loaded = await loadSession().catch(() => null);
  if (loaded) Object.assign(ctx, loaded);
  else session.token = null;
  renderShell();
  await route();
})();
