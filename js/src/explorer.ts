/**
 * Explorer view: pick the sample, the class (top classes with probabilities,
 * or any class by search), the method and its parameters; the kernel
 * recomputes in a background thread while this view shows the progress, a
 * Cancel button and any error. Results can be pinned side by side.
 *
 * The picks are synced traits (`sample`, `target`, `method`, `params`): the
 * view sets them and Python does the rest (status, progress and the map come
 * back as traits). Cancel and pin/unpin are custom messages. Text reaches
 * the DOM only through textContent.
 */
import { decodeArray, asBytes, type ArrayMeta } from "./lib/decode";
import { fillSelect, h, labelled, select } from "./lib/dom";
import { listen, type RenderProps } from "./lib/model";
import { injectStyle } from "./lib/theme";
import { classOptions, searchClasses } from "./explorer/classes";
import { paramControls, type ParamSpec } from "./explorer/params";
import { injectExplorerStyle } from "./explorer/style";
import { TrustPanel, type TrustSummary } from "./explorer/trust";
import { drawBar, drawImageMap, tokenSpans } from "./explorer/views";
import { watchTheme } from "./lib/theme_watch";

interface MethodSpec {
  name: string;
  label: string;
  params: ParamSpec[];
  description: string;
}
interface Unavailable {
  name: string;
  label: string;
  reason: string;
}
interface Pin {
  title: string;
  sample: number;
  map_shape: number[];
  map_offset: number;
  image_shape?: number[];
  image_offset?: number;
  tokens?: string[];
  flags?: number[];
}

const STATUS_TEXT: Record<string, string> = {
  idle: "idle",
  running: "computing…",
  done: "done",
  cancelled: "cancelled",
  error: "error",
};

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectExplorerStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-explorer" });
  el.appendChild(root);

  const sampleSel = select("xw-sample", [], "0");
  const classSel = select("xw-class", [], "0");
  const search = h("input", { class: "xw-search", attrs: { type: "search", placeholder: "search classes", "aria-label": "search classes" } });
  const matches = h("div", { class: "xw-matches" });
  const methodSel = select("xw-method", [], String(model.get("method")));
  const paramsBox = h("span", { class: "xw-row xw-params" });
  const bar = h("div");
  const progress = h("span", { class: "xw-progress", attrs: { role: "progressbar", "aria-label": "progress" } }, [bar]);
  const state = h("span", { class: "xw-state" });
  const cancel = h("button", { class: "xw-cancel", text: "Cancel", attrs: { type: "button" } });
  const pinBtn = h("button", { class: "xw-pin-btn", text: "Pin", title: "Keep this result beside the next ones", attrs: { type: "button" } });
  const errorEl = h("div", { class: "xw-error", attrs: { role: "alert" } });
  const unavailEl = h("div", { class: "xw-unavail" });
  const controls = h("div", { class: "xw-controls" }, [
    h("div", { class: "xw-row" }, [labelled("Sample", sampleSel), labelled("Class", classSel), search]),
    matches,
    h("div", { class: "xw-row" }, [labelled("Method", methodSel), paramsBox]),
    h("div", { class: "xw-row" }, [progress, state, cancel, pinBtn]),
    unavailEl,
  ]);
  const title = h("div", { class: "xw-title xw-main-title" });
  const canvas = h("canvas", { class: "xw-canvas xw-main-canvas" });
  const tokensEl = h("div", { class: "xw-ex-tokens" });
  const barCanvas = h("canvas", { class: "xw-colorbar" });
  const main = h("div", { class: "xw-main xw-panel" }, [title, canvas, tokensEl, barCanvas]);
  const note = h("div", { class: "xw-note" });
  const pinsEl = h("div", { class: "xw-pins" });
  const trust = new TrustPanel();
  root.append(controls, errorEl, main, trust.el, note, pinsEl);

  const kind = () => String(model.get("kind"));
  const names = () => (model.get("_class_names") as string[]) ?? [];
  const methods = () => (model.get("_methods") as MethodSpec[]) ?? [];

  function width(): number {
    const w = root.clientWidth - 22;
    return Math.max(120, Math.min(w > 0 ? w : 400, 480));
  }

  function sendPick(name: string, value: unknown): void {
    model.set(name, value);
    model.save_changes();
  }

  // ------------------------------------------------------------ controls
  function fillControls(): void {
    const labels = (model.get("_sample_labels") as string[]) ?? [];
    fillSelect(sampleSel, labels.map((l, i) => [String(i), l] as [string, string]), String(model.get("sample")));
    const topk = (model.get("_topk") as [number, number][]) ?? [];
    fillSelect(classSel, classOptions(names(), topk, Number(model.get("target")), String(model.get("_score_label"))), String(model.get("target")));
    classSel.hidden = false; // even one class is worth showing (it says what is explained)
    fillSelect(methodSel, methods().map((m) => [m.name, m.label] as [string, string]), String(model.get("method")));
    const spec = methods().find((m) => m.name === model.get("method"));
    methodSel.title = spec?.description ?? "";
    while (paramsBox.firstChild) paramsBox.removeChild(paramsBox.firstChild);
    const values = { ...(model.get("params") as Record<string, unknown>) };
    for (const c of paramControls(spec?.params ?? [], values, (name, v) => sendPick("params", { ...(model.get("params") as object), [name]: v }))) {
      paramsBox.appendChild(c);
    }
    const un = (model.get("_unavailable") as Unavailable[]) ?? [];
    unavailEl.textContent = un.length ? `Not offered: ${un.map((u) => `${u.label} (${u.reason})`).join("; ")}` : "";
    note.textContent = String(model.get("_note") ?? "");
  }

  function showStatus(): void {
    const st = String(model.get("status"));
    const p = Number(model.get("progress")) || 0;
    bar.style.width = `${Math.round(Math.min(1, Math.max(0, st === "done" ? 1 : p)) * 100)}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(p * 100)));
    state.textContent = st === "running" ? `${STATUS_TEXT[st]} ${Math.round(p * 100)}%` : STATUS_TEXT[st] ?? st;
    state.dataset.status = st;
    cancel.disabled = st !== "running";
    main.classList.toggle("xw-busy", st === "running");
    errorEl.textContent = String(model.get("error") || "");
    trust.setBusy(st === "running");
  }

  function drawTrust(): void {
    const t = (model.get("_trust") as TrustSummary) ?? {};
    const meta = model.get("_trust_meta") as ArrayMeta;
    const raw = model.get("_trust_curves");
    const curves = meta && meta.shape && raw && asBytes(raw).byteLength > 0 ? (decodeArray(raw, meta) as Float32Array) : null;
    trust.update(t, curves, width(), root);
  }

  // ---------------------------------------------------------------- views
  function drawMain(): void {
    const w = width();
    const mapMeta = model.get("_map_meta") as ArrayMeta & { sample?: number };
    const hasMap = mapMeta && mapMeta.shape && asBytes(model.get("_map")).byteLength > 0;
    const values = hasMap ? decodeArray(model.get("_map"), mapMeta) : null;
    title.textContent = hasMap ? String(model.get("_map_title")) : "";
    if (kind() === "text") {
      canvas.hidden = true;
      tokensEl.hidden = false;
      const toks = (model.get("_tokens") as string[]) ?? [];
      const same = values && values.length === toks.length && mapMeta.sample === Number(model.get("sample"));
      tokenSpans(tokensEl, toks, (model.get("_token_flags") as number[]) ?? [], same ? values : null, root);
    } else {
      tokensEl.hidden = true;
      canvas.hidden = false;
      const im = model.get("_image_meta") as ArrayMeta;
      if (!im || !im.shape) return;
      const [ih, iw] = im.shape;
      const same = values && mapMeta.shape[0] === ih && mapMeta.shape[1] === iw && mapMeta.sample === Number(model.get("sample"));
      drawImageMap(canvas, asBytes(model.get("_image")), same ? values : null, iw, ih, Math.min(w, Math.max(iw, 240)));
    }
    barCanvas.hidden = !values;
    if (values) drawBar(barCanvas, values, Math.min(w, 260), root);
    root.setAttribute("data-xw-ready", "1");
  }

  function drawPins(): void {
    while (pinsEl.firstChild) pinsEl.removeChild(pinsEl.firstChild);
    const pins = (model.get("_pins") as Pin[]) ?? [];
    if (!pins.length) return;
    const maps = asBytes(model.get("_pin_maps"));
    const imgs = asBytes(model.get("_pin_images"));
    const fv = new Float32Array(maps.buffer.slice(maps.byteOffset, maps.byteOffset + maps.byteLength));
    const pw = Math.max(120, Math.min(220, Math.floor((width() - 12) / Math.min(pins.length, 2))));
    pins.forEach((p, i) => {
      const n = p.map_shape.reduce((a, b) => a * b, 1);
      const values = fv.subarray(p.map_offset, p.map_offset + n);
      const unpin = h("button", { class: "xw-unpin", text: "×", title: "Unpin", attrs: { type: "button", "aria-label": "unpin" } });
      unpin.addEventListener("click", () => model.send?.({ type: "unpin", index: i }), on);
      const head = h("div", { class: "xw-pin-head" }, [h("div", { class: "xw-title", text: p.title, title: p.title }), unpin]);
      const box = h("div", { class: "xw-pin" }, [head]);
      box.style.width = `${pw}px`;
      if (p.image_shape && p.image_offset !== undefined) {
        const [ih, iw] = p.image_shape;
        const c = h("canvas", { class: "xw-canvas" });
        drawImageMap(c, imgs.subarray(p.image_offset, p.image_offset + ih * iw * 3), values, iw, ih, pw);
        box.appendChild(c);
      } else {
        const t = h("div", { class: "xw-ex-tokens" });
        tokenSpans(t, p.tokens ?? [], p.flags ?? [], values, root);
        box.appendChild(t);
      }
      pinsEl.appendChild(box);
    });
  }

  // --------------------------------------------------------------- events
  sampleSel.addEventListener("change", () => sendPick("sample", Number(sampleSel.value)), on);
  classSel.addEventListener("change", () => sendPick("target", Number(classSel.value)), on);
  methodSel.addEventListener("change", () => sendPick("method", methodSel.value), on);
  cancel.addEventListener("click", () => model.send?.({ type: "cancel" }), on);
  pinBtn.addEventListener("click", () => model.send?.({ type: "pin" }), on);
  trust.checkBtn.addEventListener("click", () => model.send?.({ type: "check" }), on);
  trust.sanityBtn.addEventListener("click", () => model.send?.({ type: "check", sanity: true }), on);
  search.addEventListener(
    "input",
    () => {
      while (matches.firstChild) matches.removeChild(matches.firstChild);
      for (const i of searchClasses(names(), search.value, 12)) {
        const b = h("button", { class: "xw-match", text: names()[i], attrs: { type: "button" } });
        b.addEventListener("click", () => {
          search.value = "";
          while (matches.firstChild) matches.removeChild(matches.firstChild);
          sendPick("target", i);
        });
        matches.appendChild(b);
      }
    },
    on,
  );

  fillControls();
  showStatus();
  drawMain();
  drawPins();
  const offs = [
    listen(model, ["sample", "target", "method", "params", "_topk", "_methods", "_unavailable", "_sample_labels", "_note"], fillControls),
    listen(model, ["status", "progress", "error"], showStatus),
    listen(model, ["_map", "_map_meta", "_map_title", "_image", "_tokens", "sample"], drawMain),
    listen(model, ["_pins", "_pin_maps"], drawPins),
    listen(model, ["_trust", "_trust_curves", "_trust_meta"], drawTrust),
  ];
  const unwatch = watchTheme(() => {
    drawMain();
    drawPins();
    drawTrust();
  });
  let lastW = 0;
  const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => {
    const w = width();
    if (Math.abs(w - lastW) < 2) return;
    lastW = w;
    drawMain();
    drawPins();
    drawTrust();
  }) : null;
  ro?.observe(root);
  return () => {
    ac.abort();
    for (const off of offs) off();
    unwatch();
    ro?.disconnect();
    root.remove();
  };
}

export default { render };
