// Numbers for people, exact values on hover (the title attribute).
import { h } from "./dom.js";

const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1, minimumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
// One date format everywhere: "2026-12-06 21:35 PST", the browser's own zone named, so a
// time is never read in the wrong zone.
const dateParts = new Intl.DateTimeFormat("en-CA", {
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZoneName: "short",
});

export const missing = "—";

export function pct(value) {
  return value === null || value === undefined ? missing : percent.format(value);
}

export function num(value) {
  return value === null || value === undefined ? missing : decimal.format(value);
}

export function int(value) {
  return value === null || value === undefined ? missing : integer.format(value);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return missing;
  if (seconds < 1) return `${integer.format(seconds * 1000)} ms`;
  if (seconds < 60) return `${decimal.format(Math.round(seconds * 10) / 10)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function date(iso) {
  if (!iso) return missing;
  const part = Object.fromEntries(dateParts.formatToParts(new Date(iso)).map(({ type, value }) => [type, value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} ${part.timeZoneName}`;
}

/** The browser's zone, for the pages that say which zone their buckets or times use. */
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** A class-weight setting as the train form names it, on every page. */
export function classWeight(value) {
  const names = { BALANCED: "balanced", BALANCED_SUBSAMPLE: "balanced per tree (subsample)" };
  if (value === null || value === undefined || value === "") return "none";
  return names[String(value).toUpperCase()] || String(value).toLowerCase();
}

/** A difference of two fractions in percentage points: 0.012 → "+1.2 pp". */
export function pp(value) {
  if (value === null || value === undefined) return missing;
  if (value === 0) return "±0 pp";
  return `${value > 0 ? "+" : "−"}${oneDecimal.format(Math.abs(value) * 100)} pp`;
}

export function signed(value, formatter = pct) {
  if (value === null || value === undefined) return missing;
  if (value === 0) return "±0";
  return `${value > 0 ? "+" : "−"}${formatter(Math.abs(value))}`;
}

export function bytes(size) {
  if (size === null || size === undefined) return missing;
  const units = ["B", "kB", "MB", "GB"];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${oneDecimal.format(value)} ${units[unit]}`;
}

/** A span showing `text`, with the exact value in its title (hover, and screen readers). */
export function exact(text, value) {
  const title = value === null || value === undefined ? undefined : String(value);
  return h("span.value", { title }, text);
}

export function pctValue(value) {
  return exact(pct(value), value);
}

export function durationValue(seconds) {
  return exact(duration(seconds), seconds === null || seconds === undefined ? null : `${seconds} s`);
}

export function dateValue(iso) {
  return h("time", { datetime: iso || undefined, title: iso || undefined }, date(iso));
}
