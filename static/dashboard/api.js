// GraphQL over HTTP with the session's token (sessionStorage: no cookie, so no CSRF), and
// the one place that knows whether the server can be reached (`connection`): the live
// WebSocket and every request report to it, and the shell shows "connection lost".

const TOKEN_KEY = "future-skills.token";
const listeners = new Set();

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** Called when the server says the token no longer works. */
  onExpired(listener) {
    listeners.add(listener);
  },
};

/** Reachable or not: "online" | "lost"; listeners hear each change. */
export const connection = {
  state: "online",
  listeners: new Set(),
  set(state) {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.listeners) listener(state);
  },
  onChange(listener) {
    this.listeners.add(listener);
  },
};

export class ApiError extends Error {
  constructor(errors, data = null, { offline = false } = {}) {
    super(errors.map((error) => error.message).join("; "));
    this.errors = errors;
    this.data = data;
    this.offline = offline;
    this.code = errors[0]?.extensions?.code || (offline ? "UNREACHABLE" : null);
  }
}

export function authHeaders() {
  return session.token ? { Authorization: `Token ${session.token}` } : {};
}

/** fetch with the token; a network failure becomes an ApiError saying the connection is
 * lost (an abort by a newer navigation stays an AbortError, which views do not show). */
export async function request(url, init = {}) {
  let response;
  try {
    response = await fetch(url, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    connection.set("lost");
    throw new ApiError([{ message: "Connection lost: the server could not be reached." }], null, { offline: true });
  }
  connection.set("online");
  return response;
}

async function send(init, signal) {
  const response = await request("/graphql", { ...init, signal });
  let body;
  try {
    body = await response.json();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError([{ message: `The server answered HTTP ${response.status}.` }]);
  }
  if (body.errors?.length) {
    const error = new ApiError(body.errors, body.data);
    if (error.code === "UNAUTHENTICATED" && session.token) for (const listener of listeners) listener();
    throw error;
  }
  return body.data;
}

/** One GraphQL operation; throws ApiError with the server's errors. `signal` is the
 * navigation's: leaving the view aborts what it still waits for. */
export function gql(query, variables = {}, { signal } = {}) {
  return send(
    {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    },
    signal,
  );
}

/** A GraphQL multipart request (files travel as parts; `files` maps variable paths). */
export function gqlUpload(query, variables, files) {
  const form = new FormData();
  const map = {};
  const entries = Object.entries(files);
  entries.forEach(([path], index) => {
    map[String(index)] = [`variables.${path}`];
  });
  form.append("operations", JSON.stringify({ query, variables }));
  form.append("map", JSON.stringify(map));
  for (const [index, [, file]] of entries.entries()) form.append(String(index), file, file.name);
  return send({
    method: "POST",
    headers: { Accept: "application/json", "Apollo-Require-Preflight": "true" },
    body: form,
  });
}

/** GET a file the server streams (a model, a CSV export) with the token, and hand it to
 * the browser as a download named `name`. */
export async function downloadFile(url, name) {
  const response = await request(url);
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).errors?.[0]?.message || message;
    } catch {
      // not JSON
    }
    throw new Error(message);
  }
  const href = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
