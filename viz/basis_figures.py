"""Figures of what the bases and attentions learned (``blendmask.analysis.bases``): the average
attention template and each basis averaged over the ground-truth boxes."""

from __future__ import annotations

from matplotlib.figure import Figure

from blendmask.analysis.bases import AttentionTemplate, BasisSemantics
from viz.colors import attention_mixture, basis_cmap, basis_color


def attention_template_figure(template: AttentionTemplate) -> Figure:
    """The average attention's mixture of basis colours, then its weight for every basis, (K, R, R)."""
    num_bases = template.mean.shape[0]
    fig = Figure(figsize=(1.9 * (num_bases + 1), 2.2), layout="tight")
    axes = fig.subplots(1, num_bases + 1, squeeze=False)[0]
    axes[0].imshow(attention_mixture(template.mean.numpy()))
    axes[0].set_title("average attention mix", fontsize=8)
    for k in range(num_bases):
        axes[k + 1].imshow(template.mean[k].numpy(), cmap=basis_cmap(k, signed=False), vmin=0, vmax=1)
        axes[k + 1].set_title(f"average $s^{{{k + 1}}}$", color=basis_color(k), fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def basis_semantics_figure(semantics: BasisSemantics) -> Figure:
    """Each basis averaged over the ground-truth boxes ``mean_in_box`` (K, R, R), on one symmetric
    scale, titled with its reading; the box's sides are labelled at 0 and R - 1."""
    readings = semantics.readings()
    limit = float(semantics.mean_in_box.abs().max())
    last = semantics.mean_in_box.shape[-1] - 1
    fig = Figure(figsize=(2.1 * semantics.num_bases, 2.6), layout="tight")
    for k, ax in enumerate(fig.subplots(1, semantics.num_bases, squeeze=False)[0]):
        ax.imshow(semantics.mean_in_box[k].numpy(), cmap=basis_cmap(k), vmin=-limit, vmax=limit)
        ax.set_title(f"basis {k + 1}\n" + readings[k].replace(" + ", "\n"), color=basis_color(k), fontsize=8)
        ax.set_xticks([0, last], ["left", "right"])
        ax.set_yticks([0, last], ["top", "bottom"])
    fig.suptitle("Bases averaged inside the ground-truth boxes", fontsize=9)
    return fig
