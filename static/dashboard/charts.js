// Chart.js (vendored, window.Chart) with the dashboard's defaults: no animation (steady
// screenshots, and kinder to people who reduce motion), colours readable in both themes.
export const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#475569", "#9333ea"];

export function chart(canvas, config) {
  const Chart = window.Chart;
  if (!Chart) {
    canvas.replaceWith(document.createTextNode("Charts are unavailable (Chart.js did not load)."));
    return null;
  }
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  return new Chart(canvas, config);
}

/** A canvas in a sized box, with a text alternative for screen readers. */
export function chartBox(label, className = "chart") {
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  const box = document.createElement("div");
  box.className = className;
  box.append(canvas);
  return { box, canvas };
}
