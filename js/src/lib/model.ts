/** The part of the anywidget model API the views use. */
export interface AnyModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  send?(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
}

export interface RenderProps {
  model: AnyModel;
  el: HTMLElement;
}

/** Subscribe to change events; returns an unsubscribe function. */
export function listen(model: AnyModel, names: string[], cb: () => void): () => void {
  const events = names.map((n) => `change:${n}`);
  for (const e of events) model.on(e, cb);
  return () => {
    for (const e of events) model.off(e, cb);
  };
}
