// One graphql-transport-ws WebSocket shared by every live view: each subscription is an
// id on it. Open while someone is signed in (`start`), even with no subscription: it is
// also how the dashboard learns, within seconds and without the user doing anything,
// that the server went away (the shell then shows "connection lost"). Re-opened (and
// re-subscribed) when it drops, closed at once on sign-out.
import { connection, session } from "./api.js";

// Waits between reconnection attempts: quick at first, then every 5 s.
const RETRY_MS = [500, 1000, 2000, 5000];

class LiveConnection {
  constructor() {
    this.socket = null;
    this.acknowledged = false;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.retry = null;
    this.attempts = 0;
    this.wanted = false;
  }

  /** Signed in: keep a socket open from now on. */
  start() {
    this.wanted = true;
    this.open();
  }

  /** Try again now (the "Retry now" button), instead of waiting for the next attempt. */
  retryNow() {
    clearTimeout(this.retry);
    this.attempts = 0;
    this.open();
  }

  /** Subscribe; `handlers` = {next(data), error(errors), complete()}. Returns unsubscribe. */
  subscribe(query, variables, handlers) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, handlers });
    if (this.socket && this.acknowledged) this.sendSubscribe(id);
    else this.open();
    return () => this.unsubscribe(id);
  }

  unsubscribe(id) {
    if (!this.subscriptions.delete(id)) return;
    if (this.socket && this.acknowledged) this.send({ id, type: "complete" });
  }

  get size() {
    return this.subscriptions.size;
  }

  open() {
    if (this.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
    this.socket = socket;
    this.acknowledged = false;
    socket.addEventListener("open", () => {
      this.send({ type: "connection_init", payload: session.token ? { Authorization: `Token ${session.token}` } : {} });
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.acknowledged = false;
      if (!this.wanted || !session.token) return;
      // A socket that drops (or never opens) means the server is out of reach.
      connection.set("lost");
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.open(), RETRY_MS[Math.min(this.attempts, RETRY_MS.length - 1)]);
      this.attempts += 1;
    });
  }

  close() {
    clearTimeout(this.retry);
    const socket = this.socket;
    this.socket = null;
    this.acknowledged = false;
    if (socket) socket.close(1000, "done");
  }

  /** Sign-out: drop everything. */
  reset() {
    this.wanted = false;
    this.subscriptions.clear();
    this.close();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  sendSubscribe(id) {
    const { query, variables } = this.subscriptions.get(id);
    this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  receive(message) {
    if (message.type === "connection_ack") {
      this.acknowledged = true;
      this.attempts = 0;
      connection.set("online");
      for (const id of this.subscriptions.keys()) this.sendSubscribe(id);
      return;
    }
    if (message.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    const subscription = this.subscriptions.get(message.id);
    if (!subscription) return;
    const { handlers } = subscription;
    if (message.type === "next") {
      if (message.payload.errors) handlers.error?.(message.payload.errors);
      if (message.payload.data) handlers.next?.(message.payload.data);
    } else if (message.type === "error") {
      this.subscriptions.delete(message.id);
      handlers.error?.(message.payload);
    } else if (message.type === "complete") {
      this.subscriptions.delete(message.id);
      handlers.complete?.();
    }
  }
}

export const live = new LiveConnection();

export const RUN_UPDATED = `subscription RunUpdated($id: ID!) {
  trainingRunUpdated(id: $id) {
    id status progress stage startedAt cancelRequested accuracy f1Score trainingDurationSeconds errorMessage
  }
}`;

export const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
