/**
 * Calls back when the page's theme may have changed. Token colours are
 * blended over the page background, so a theme switch (JupyterLab sets body
 * attributes and swaps a stylesheet, in an order it does not promise; an OS
 * dark mode flips a media query) must recompute them. The callback runs a
 * few times after each change because the new variables may land late; it
 * should be cheap when nothing changed.
 */
export function watchTheme(cb: () => void): () => void {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const fire = () => {
    cb();
    for (const ms of [60, 250, 800]) {
      const t = setTimeout(() => {
        timers.delete(t);
        cb();
      }, ms);
      timers.add(t);
    }
  };
  const observers: MutationObserver[] = [];
  if (typeof MutationObserver !== "undefined" && typeof document !== "undefined") {
    const mo = new MutationObserver(fire);
    if (document.body) mo.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style", "data-theme"] });
    if (document.head) mo.observe(document.head, { childList: true });
    observers.push(mo);
  }
  const mq = typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener?.("change", fire);
  return () => {
    for (const o of observers) o.disconnect();
    mq?.removeEventListener?.("change", fire);
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
}
