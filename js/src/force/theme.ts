/**
 * Redraw when the theme changes. The canvas holds colours resolved at draw
 * time (text made readable against the background then), so a switch between
 * JupyterLab's light and dark themes, or an OS dark mode, must redraw. The
 * check runs a few times after each change, as the new CSS variables may land
 * after the attribute that announces them, and costs a getComputedStyle when
 * nothing changed.
 */
export function watchTheme(colorsKey: () => string, redraw: () => void): () => void {
  let last = colorsKey();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const check = () => {
    const k = colorsKey();
    if (k !== last) {
      last = k;
      redraw();
    }
  };
  const fire = () => {
    check();
    for (const ms of [60, 250, 800]) {
      const t = setTimeout(() => {
        timers.delete(t);
        check();
      }, ms);
      timers.add(t);
    }
  };
  const mo = typeof MutationObserver !== "undefined" ? new MutationObserver(fire) : null;
  if (mo && document.body) mo.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
  if (mo) mo.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style", "data-theme"] });
  if (mo && document.head) mo.observe(document.head, { childList: true });
  const mq = typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener?.("change", fire);
  return () => {
    mo?.disconnect();
    mq?.removeEventListener?.("change", fire);
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
}
