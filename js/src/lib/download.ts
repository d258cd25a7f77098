/** PNG download of a canvas (canvas.toBlob -> object URL -> <a download>). */
export function downloadCanvas(canvas: HTMLCanvasElement, filename: string): void {
  const save = (url: string, revoke: boolean) => {
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    if (revoke) setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  if (typeof canvas.toBlob === "function") {
    canvas.toBlob((blob) => {
      if (blob) save(URL.createObjectURL(blob), true);
      else save(canvas.toDataURL("image/png"), false);
    }, "image/png");
  } else {
    save(canvas.toDataURL("image/png"), false);
  }
}
