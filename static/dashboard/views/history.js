// Metrics over time: min / avg / max of accuracy and F1 per bucket, and run counts per
// status, with bucket and range pickers. The buckets are local to the browser's zone.
// Hourly buckets over a long range are refused here in words a person can act on (the
// server allows 1,000 buckets and names its API fields), and a refused or failed load
// never leaves the previous chart on screen.
import { append, field, h, problem, scroller, section, setTitle } from "../dom.js";
import { chart, chartBox } from "../charts.js";
import { date, int, pct, timeZone } from "../format.js";

// 41 days of hours is just under the server's 1,000 buckets.
const MAX_HOUR_DAYS = 41;

const HISTORY = `query History($bucket: HistoryBucket!, $filter: TrainingRunFilter, $timeZone: String!) {
  trainingMetricsHistory(bucket: $bucket, filter: $filter, timeZone: $timeZone) {
    start runs completed failed cancelled
    accuracy { min avg max }
    f1Score { min avg max }
  }
}`;

const RANGES = { 1: "Last 24 hours", 7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days", 365: "Last year", 0: "All time" };
const state = { bucket: "DAY", days: "30" };

export async function render(main, ctx) {
  setTitle("History");
  const bucket = h("select", {}, ["HOUR", "DAY", "WEEK", "MONTH"].map((value) => h("option", { value, selected: value === state.bucket }, value.toLowerCase())));
  const range = h("select", {}, Object.entries(RANGES).map(([value, label]) => h("option", { value, selected: value === state.days }, label)));
  const error = h("div");
  const chartsBox = h("div");
  const metrics = chartBox("Accuracy and F1 score per bucket: minimum, average, maximum");
  const counts = chartBox("Runs per bucket by status");
  const tableBox = scroller("History buckets");
  const charts = [];
  const form = h(
    "form.card.filters",
    { "aria-label": "History range", onchange: load, onsubmit: (event) => { event.preventDefault(); load(); } },
    field({ name: "bucket", label: "Bucket", input: bucket, hint: `Times in your zone, ${timeZone}.` }),
    field({ name: "range", label: "Range", input: range }),
  );
  append(chartsBox, h("div.grid", {}, section("Accuracy and F1 score", metrics.box), section("Runs by status", counts.box)), section("Buckets", h("details", {}, h("summary", {}, "Show the numbers"), tableBox)));
  append(main, h("div.heading", {}, h("h1", {}, "History")), form, error, chartsBox);

  function forget() {
    for (const instance of charts.splice(0)) instance?.destroy();
    chartsBox.hidden = true;
    delete main.dataset.buckets;
  }

  // Each load's number: an answer to an older choice (the user changed bucket or range
  // meanwhile) is dropped, never drawn over the newer one.
  let loads = 0;
  async function load() {
    loads += 1;
    const mine = loads;
    state.bucket = bucket.value;
    state.days = range.value;
    const days = Number(range.value);
    const filter = days ? { runDateFrom: new Date(Date.now() - days * 86_400_000).toISOString() } : null;
    error.replaceChildren();
    bucket.removeAttribute("aria-invalid");
    if (bucket.value === "HOUR" && (days === 0 || days > MAX_HOUR_DAYS)) {
      forget();
      bucket.setAttribute("aria-invalid", "true");
      error.append(h("p.problem", { role: "alert" }, `Hourly buckets cover at most ${MAX_HOUR_DAYS} days: choose a range of 30 days or less, or a day, week or month bucket.`));
      return;
    }
    let buckets;
    try {
      buckets = (await ctx.gql(HISTORY, { bucket: bucket.value, filter, timeZone })).trainingMetricsHistory;
    } catch (failure) {
      if (failure.name === "AbortError" || mine !== loads) return;
      forget();
      error.append(problem(failure, load));
      return;
    }
    if (mine !== loads) return;
    for (const instance of charts.splice(0)) instance?.destroy();
    chartsBox.hidden = false;
    const labels = buckets.map((row) => date(row.start));
    const series = (metric, part) => buckets.map((row) => (row[metric] ? row[metric][part] : null));
    charts.push(
      chart(metrics.canvas, {
        type: "line",
        data: {
          labels,
          datasets: [
            { label: "Accuracy max", data: series("accuracy", "max"), borderColor: "#93c5fd", backgroundColor: "rgba(37,99,235,.12)", fill: "+2", pointRadius: 0, borderDash: [4, 3] },
            { label: "Accuracy avg", data: series("accuracy", "avg"), borderColor: "#2563eb", backgroundColor: "#2563eb", pointStyle: "circle" },
            { label: "Accuracy min", data: series("accuracy", "min"), borderColor: "#93c5fd", pointRadius: 0, borderDash: [4, 3] },
            { label: "F1 max", data: series("f1Score", "max"), borderColor: "#fcd34d", backgroundColor: "rgba(217,119,6,.12)", fill: "+2", pointRadius: 0, borderDash: [2, 2] },
            { label: "F1 avg", data: series("f1Score", "avg"), borderColor: "#d97706", backgroundColor: "#d97706", pointStyle: "triangle" },
            { label: "F1 min", data: series("f1Score", "min"), borderColor: "#fcd34d", pointRadius: 0, borderDash: [2, 2] },
          ],
        },
        options: { spanGaps: true, scales: { y: { ticks: { format: { style: "percent" } } } } },
      }),
      chart(counts.canvas, {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "Completed", data: buckets.map((row) => row.completed), backgroundColor: "#059669" },
            { label: "Failed", data: buckets.map((row) => row.failed), backgroundColor: "#dc2626" },
            { label: "Cancelled", data: buckets.map((row) => row.cancelled), backgroundColor: "#94a3b8" },
            { label: "Other", data: buckets.map((row) => row.runs - row.completed - row.failed - row.cancelled), backgroundColor: "#2563eb" },
          ],
        },
        options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } },
      }),
    );
    tableBox.replaceChildren(
      h(
        "table.history",
        {},
        h("thead", {}, h("tr", {}, ["Bucket", "Runs", "Completed", "Failed", "Cancelled", "Accuracy avg", "F1 avg"].map((label) => h("th", { scope: "col" }, label)))),
        h(
          "tbody",
          {},
          buckets.length
            ? buckets.map((row) =>
                h("tr", {}, h("th", { scope: "row" }, h("time", { datetime: row.start, title: row.start }, date(row.start))), [row.runs, row.completed, row.failed, row.cancelled].map((value) => h("td.num", {}, int(value))), h("td.num", { title: row.accuracy ? `min ${row.accuracy.min}, avg ${row.accuracy.avg}, max ${row.accuracy.max}` : undefined }, pct(row.accuracy?.avg)), h("td.num", { title: row.f1Score ? `min ${row.f1Score.min}, avg ${row.f1Score.avg}, max ${row.f1Score.max}` : undefined }, pct(row.f1Score?.avg))),
              )
            : h("tr", {}, h("td", { colspan: 7 }, "No run in this range.")),
        ),
      ),
    );
    main.dataset.buckets = String(buckets.length);
  }

  await load();
  return () => {
    for (const instance of charts) instance?.destroy();
  };
}
