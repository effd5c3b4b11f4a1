// One graphql-transport-ws WebSocket shared by every live view: each subscription is an
// id on it. Opened at the first subscription, re-opened (and re-subscribed) if it drops,
// closed a while after the last subscription ends (paging the table or moving between
// views keeps the same socket), and at once on sign-out.
const IDLE_CLOSE_MS = 30_000;
import { session } from "./api.js";

class LiveConnection {
  constructor() {
    this.socket = null;
    this.acknowledged = false;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.retry = null;
    this.idle = null;
  }

  /** Subscribe; `handlers` = {next(data), error(errors), complete()}. Returns unsubscribe. */
  subscribe(query, variables, handlers) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, handlers });
    clearTimeout(this.idle);
    if (this.socket && this.acknowledged) this.sendSubscribe(id);
    else this.open();
    return () => this.unsubscribe(id);
  }

  unsubscribe(id) {
    if (!this.subscriptions.delete(id)) return;
    if (this.socket && this.acknowledged) this.send({ id, type: "complete" });
    this.closeWhenIdle();
  }

  closeWhenIdle() {
    clearTimeout(this.idle);
    if (this.subscriptions.size === 0) this.idle = setTimeout(() => this.subscriptions.size || this.close(), IDLE_CLOSE_MS);
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
      if (this.subscriptions.size && session.token) {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.open(), 2000);
      }
    });
  }

  close() {
    clearTimeout(this.retry);
    clearTimeout(this.idle);
    const socket = this.socket;
    this.socket = null;
    this.acknowledged = false;
    if (socket) socket.close(1000, "done");
  }

  /** Sign-out: drop everything. */
  reset() {
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
      this.closeWhenIdle();
    } else if (message.type === "complete") {
      this.subscriptions.delete(message.id);
      handlers.complete?.();
      this.closeWhenIdle();
    }
  }
}

export const live = new LiveConnection();

export const RUN_UPDATED = `subscription RunUpdated($id: ID!) {
  trainingRunUpdated(id: $id) {
    id status progress stage cancelRequested accuracy f1Score trainingDurationSeconds errorMessage
  }
}`;

export const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
