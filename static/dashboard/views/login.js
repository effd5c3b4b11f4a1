// Sign in: the login mutation's token goes to sessionStorage (gone with the tab).
import { gql } from "../api.js";
import { append, field, h, setTitle } from "../dom.js";
import { signedIn } from "../app.js";

const LOGIN = `mutation SignIn($username: String!, $password: String!) {
  login(username: $username, password: $password) { token }
}`;

export function render(main) {
  setTitle("Sign in");
  const username = h("input", { type: "text", autocomplete: "username", required: true });
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const error = h("p.error", { role: "alert" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form.card.narrow",
    {
      "aria-labelledby": "sign-in-title",
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = "";
        button.disabled = true;
        button.textContent = "Signing in…"; // argon2 takes a moment on purpose; a slow link more
        try {
          const data = await gql(LOGIN, { username: username.value, password: password.value });
          await signedIn(data.login.token);
        } catch (failure) {
          error.textContent = failure.message;
          password.select();
        } finally {
          button.disabled = false;
          button.textContent = "Sign in";
        }
      },
    },
    h("h1#sign-in-title", {}, "Sign in"),
    h("p", {}, "Training runs of the Future Skills model, for HR staff and managers."),
    field({ name: "username", label: "Username", input: username }),
    field({ name: "password", label: "Password", input: password }),
    error,
    button,
  );
  append(main, form);
  username.focus();
}
