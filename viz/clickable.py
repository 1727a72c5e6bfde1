"""ClickableImage: a PNG widget that reports where it was clicked (an anywidget front-end module)."""

from __future__ import annotations

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const img = document.createElement("img");
  img.className = "blendmask-clickable";
  img.alt = "click a detection to select it";
  let url = null;
  const show = () => {
    if (url) URL.revokeObjectURL(url);
    const png = model.get("value");
    url = png && png.byteLength ? URL.createObjectURL(new Blob([png], { type: "image/png" })) : null;
    img.src = url || "";
  };
  img.addEventListener("click", (event) => {
    const box = img.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const previous = model.get("click") || {};
    model.set("click", {
      x: (event.clientX - box.left) / box.width,
      y: (event.clientY - box.top) / box.height,
      count: (previous.count || 0) + 1,
    });
    model.save_changes();
  });
  model.on("change:value", show);
  show();
  el.appendChild(img);
  return () => {
    model.off("change:value", show);
    if (url) URL.revokeObjectURL(url);
  };
}
export default { render };
"""

_CSS = """
.blendmask-clickable { width: 100%; cursor: crosshair; image-rendering: pixelated; display: block; }
"""


class ClickableImage(anywidget.AnyWidget):
    """A PNG (``value``, bytes) shown at the widget's width; each click on it sets ``click`` to
    ``{"x", "y", "count"}``: the position as a fraction (0..1) of the image's width and height from
    its top-left corner, and a running count, so two clicks on one spot are two changes."""

    _esm = _ESM
    _css = _CSS
    value = traitlets.Bytes(b"").tag(sync=True)
    click = traitlets.Dict({}).tag(sync=True)

    def pixel(self, width: int, height: int) -> tuple[float, float] | None:
        """The last click in the pixels of an image of ``width`` x ``height``, or None before any."""
        if not self.click:
            return None
        return self.click["x"] * width, self.click["y"] * height
