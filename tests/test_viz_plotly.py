"""Plotly hover views and training curves."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from fakes import make_image, make_prediction

from blendmask.analysis.steps import blending_steps
from viz import plotly_attention, plotly_bases, plotly_training_curves, read_metrics
from viz.plotly_views import OFFLINE_RENDERER

REMOTE_SCRIPT = re.compile(r"""<script[^>]*src=["']https?://|https?://cdn\.plot\.ly/plotly-""")


def test_plotly_bases_has_one_facet_per_basis_in_image_coordinates():
    pred = make_prediction(num_bases=4, scale=2.0)
    fig = plotly_bases(pred, make_image())
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 4 and sum(isinstance(t, go.Image) for t in fig.data) == 1
    for k, trace in enumerate(heatmaps):
        np.testing.assert_allclose(np.asarray(trace.z), pred["bases"][k].numpy(), rtol=1e-6)
        assert trace.x[0] == pytest.approx(0.5 * 4 / 2.0) and trace.zmin == -trace.zmax
    assert "basis 3" in fig.layout.annotations[3].text
    assert len(plotly_bases(pred).data) == 4


@pytest.mark.parametrize(("method", "rows"), [("blender", 3), ("assembler", 2)])
def test_plotly_attention_facets_every_stage_by_basis(method, rows):
    pred = make_prediction(method=method, num_bases=4, attn_size=2)
    fig = plotly_attention(pred, 1)
    assert len(fig.data) == rows * 4 + 1
    steps = blending_steps(pred, 1)
    weights = [t for t in fig.data if t.name.endswith("weights")]
    for k, trace in enumerate(weights):
        np.testing.assert_allclose(np.asarray(trace.z), steps.weights[k].numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(fig.data[-1].z), pred["mask_logits"][1].numpy(), rtol=1e-5, atol=1e-6
    )


def write_metrics(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_training_curves_plot_losses_and_lr(tmp_path):
    records = [
        dict(iter=i, loss_cls=1.0 / (i + 1), loss_mask=0.5, total_loss=1.5, lr=0.01 * i) for i in range(5)
    ]
    records.append(dict(iter=5, segm_AP=12.0))
    write_metrics(tmp_path / "metrics.jsonl", [json.dumps(r) for r in records])
    fig = plotly_training_curves(tmp_path)
    names = [t.name for t in fig.data]
    assert names == ["loss_cls", "loss_mask", "total_loss", "lr"]
    assert list(fig.data[0].y) == [r["loss_cls"] for r in records[:5]]
    assert fig.data[3].yaxis == "y2" and fig.layout.yaxis.type == "log"
    only = plotly_training_curves(records, keys=["segm_AP"], log_y=False)
    assert [t.name for t in only.data] == ["segm_AP", "lr"] and list(only.data[0].x) == [5]


def test_read_metrics_names_the_bad_line(tmp_path):
    path = write_metrics(tmp_path / "metrics.jsonl", ['{"iter": 0, "loss_cls": 1}', "{oops"])
    with pytest.raises(ValueError, match="metrics.jsonl:2"):
        read_metrics(path)
    write_metrics(path, ['{"loss_cls": 1}'])
    with pytest.raises(ValueError, match="'iter'"):
        read_metrics(path)
    with pytest.raises(FileNotFoundError, match="no metrics file"):
        read_metrics(tmp_path / "missing")


def test_plotly_views_fill_the_output_width_and_keep_titles_apart():
    pred = make_prediction(num_bases=4, attn_size=2)
    for fig in (plotly_bases(pred, make_image()), plotly_attention(pred, 0)):
        assert fig.layout.width is None and fig.layout.autosize
    titles = [a.text for a in plotly_attention(pred, 0).layout.annotations if a.text]
    assert all(len(title.split("</b>")[-1]) <= 14 for title in titles), titles
    assert plotly_attention(pred, 0).layout.yaxis.title.text.startswith("attention")


def test_training_curves_show_a_single_logged_iteration_and_a_nonnegative_lr_axis():
    fig = plotly_training_curves([{"iter": 4, "total_loss": 2.5, "loss_mask": 0.7, "lr": 1e-4}])
    assert {trace.mode for trace in fig.data} == {"lines+markers"}
    lr_axis = fig.layout.yaxis2
    assert lr_axis.rangemode == "tozero" and lr_axis.tickformat == ".1e"
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yanchor == "bottom"
    assert all(".4g" in t.hovertemplate or ".2e" in t.hovertemplate for t in fig.data)


def test_notebook_settings_switch_plotly_to_a_renderer_without_a_cdn(tmp_path):
    import plotly.io as pio

    from blendmask.lab.workspace import notebook_settings

    pio.renderers.default = "plotly_mimetype+notebook_connected"
    notebook_settings(tmp_path, environ={})
    assert pio.renderers.default == OFFLINE_RENDERER
    html = pio.renderers["blendmask_offline"].to_mimebundle(go.Figure(go.Scatter(y=[1, 2])).to_dict())
    assert not REMOTE_SCRIPT.search(html["text/html"]) and "Plotly.newPlot" in html["text/html"]
    connected = pio.renderers["notebook_connected"].to_mimebundle(go.Figure().to_dict())["text/html"]
    assert REMOTE_SCRIPT.search(connected), "the pattern does find plotly's CDN renderer"
