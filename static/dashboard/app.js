// The dashboard's shell: session, capabilities, navigation and the hash router.
import { ApiError, gql, session } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { live } from "./live.js";

const view = document.getElementById("view");
const top = document.getElementById("top");

// Views on fields this server may not have yet load only when it has them (capabilities).
const ROUTES = [
  { pattern: /^\/login$/, load: () => import("./views/login.js"), public: true },
  { pattern: /^\/runs$/, load: () => import("./views/runs.js"), nav: "Runs" },
  { pattern: /^\/runs\/([^/]+)$/, load: () => import("./views/run.js") },
  { pattern: /^\/train$/, load: () => import("./views/train.js"), nav: "Train", needs: (ctx) => ctx.user.canTrain },
  { pattern: /^\/compare$/, load: () => import("./views/compare.js"), nav: "Compare" },
  { pattern: /^\/history$/, load: () => import("./views/history.js"), nav: "History" },
  { pattern: /^\/models$/, load: () => import("./views/models.js"), nav: "Models", needs: (ctx) => ctx.caps.modelAliases },
  { pattern: /^\/predict$/, load: () => import("./views/predict.js"), nav: "Predict", needs: (ctx) => ctx.caps.predict },
];

const SESSION = `query Session {
  viewer { username canTrain groups }
  q: __type(name: "Query") { fields { name } }
  m: __type(name: "Mutation") { fields { name } }
  r: __type(name: "TrainingRun") { fields { name } }
}`;

const ctx = { user: null, caps: {}, params: [], query: new URLSearchParams(), navigate };
let cleanup = null;

function capabilitiesOf(data) {
  const names = (type) => new Set((data?.[type]?.fields || []).map((field) => field.name));
  const query = names("q");
  const mutation = names("m");
  const run = names("r");
  return {
    datasets: query.has("datasets"),
    uploadDataset: mutation.has("uploadDataset"),
    modelAliases: query.has("modelAliases") && mutation.has("setModelAlias"),
    runAliases: run.has("aliases"),
    predict: mutation.has("predictFutureNeed") || query.has("predictFutureNeed"),
    predictIsMutation: mutation.has("predictFutureNeed"),
    logout: mutation.has("logout"),
  };
}

/** Who is signed in, and what this server offers; null when the token does not work. */
async function loadSession() {
  if (!session.token) return null;
  try {
    const data = await gql(SESSION);
    return data.viewer ? { user: data.viewer, caps: capabilitiesOf(data) } : null;
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") return null;
    // Introspection switched off: the core views still work.
    const data = await gql("query Session { viewer { username canTrain groups } }");
    return data.viewer ? { user: data.viewer, caps: {} } : null;
  }
}

export async function signedIn(token) {
  session.token = token;
  const loaded = await loadSession();
  if (!loaded) throw new Error("The new token was refused.");
  Object.assign(ctx, loaded);
  renderShell();
  navigate("#/runs");
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
  ctx.caps = {};
  renderShell();
  navigate("#/login");
  toast("Signed out.");
}

function renderShell() {
  top.hidden = !ctx.user;
  const nav = clear(document.getElementById("nav"));
  if (!ctx.user) return;
  for (const route of ROUTES) {
    if (!route.nav || (route.needs && !route.needs(ctx))) continue;
    const href = `#/${route.nav.toLowerCase()}`;
    nav.append(h("li", {}, h("a", { href, dataset: { nav: route.nav.toLowerCase() } }, route.nav)));
  }
  nav.append(h("li", {}, h("a", { href: "/graphql" }, "GraphiQL")));
  const roles = ctx.user.canTrain ? "HR staff" : "read only";
  document.getElementById("who").textContent = `${ctx.user.username} (${roles})`;
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const [path, search] = (location.hash.slice(1) || "/runs").split("?");
  if (!ctx.user && path !== "/login") {
    navigate("#/login");
    return;
  }
  const match = ROUTES.map((candidate) => [candidate, path.match(candidate.pattern)]).find(([, found]) => found);
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    const current = path.startsWith(`/${link.dataset.nav}`);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(view);
  const params = match && decodedParams(match[1]);
  if (!params || (match[0].needs && !match[0].needs(ctx))) {
    view.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
    return;
  }
  const [definition] = match;
  ctx.params = params;
  ctx.query = new URLSearchParams(search || "");
  view.setAttribute("aria-busy", "true");
  try {
    const module = await definition.load();
    cleanup = (await module.render(view, ctx)) || null;
  } catch (error) {
    clear(view).append(h("h1", {}, "Something went wrong"), h("p.error", { role: "alert" }, error.message));
  } finally {
    view.removeAttribute("aria-busy");
    view.dataset.view = definition.nav?.toLowerCase() || path.split("/")[1];
    if (document.activeElement === document.body || !view.contains(document.activeElement)) view.focus();
  }
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

session.onExpired(() => {
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
