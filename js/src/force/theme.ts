/**
 * Redraw when the theme changes. The canvas holds colours resolved at draw
 * time (text made readable against the background then), so a switch between
 * JupyterLab's light and dark themes, or an OS dark mode, must redraw; the
 * shared watcher calls back a few times after each possible change, and this
 * redraws only when the resolved colours (`colorsKey`) really differ.
 */
import { watchTheme as onThemeChange } from "../lib/theme_watch";

export function watchTheme(colorsKey: () => string, redraw: () => void): () => void {
  let last = colorsKey();
  return onThemeChange(() => {
    const k = colorsKey();
    if (k !== last) {
      last = k;
      redraw();
    }
  });
}
