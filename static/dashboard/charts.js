// Chart.js (vendored, window.Chart) with the dashboard's defaults: no animation (steady
// screenshots, and kinder to people who reduce motion), colours readable in both themes.
// Ten colours told apart at a glance (Tableau 10, made for categories: no two alike in
// hue and lightness), so ten compared runs stay distinguishable.
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#79706e"];

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
