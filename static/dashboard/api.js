// GraphQL over HTTP with the session's token (sessionStorage: no cookie, so no CSRF).

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

export class ApiError extends Error {
  constructor(errors, data = null) {
    super(errors.map((error) => error.message).join("; "));
    this.errors = errors;
    this.data = data;
    this.code = errors[0]?.extensions?.code || null;
  }
}

export function authHeaders() {
  return session.token ? { Authorization: `Token ${session.token}` } : {};
}

async function send(init) {
  let response;
  try {
    response = await fetch("/graphql", init);
  } catch (error) {
    throw new ApiError([{ message: `The server could not be reached (${error.message}).` }]);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `The server answered HTTP ${response.status}.` }]);
  }
  if (body.errors && body.errors.length) {
    const error = new ApiError(body.errors, body.data);
    if (error.code === "UNAUTHENTICATED" && session.token) listeners.forEach((listener) => listener());
    throw error;
  }
  return body.data;
}

/** One GraphQL operation; throws ApiError with the server's errors. */
export function gql(query, variables = {}) {
  return send({
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
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
  entries.forEach(([, file], index) => form.append(String(index), file, file.name));
  return send({
    method: "POST",
    headers: { Accept: "application/json", "Apollo-Require-Preflight": "true", ...authHeaders() },
    body: form,
  });
}
