"""CUDA paths, skipped without a GPU: the blender and the model give the CPU's numbers on the GPU,
mixed-precision training stays finite and leaves a checkpoint that the CPU and the GPU both load."""

from __future__ import annotations

import pytest
import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.data import make_synthetic_coco
from blendmask.engine import Predictor, coco_train_set, load_checkpoint, train
from blendmask.modeling.blender import blend

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(autouse=True)
def full_float32_precision():
    """TF32 off, so CPU and GPU float32 results agree to float32 rounding."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


@pytest.mark.parametrize("method", ["blender", "weighted_sum", "assembler"])
def test_blend_on_cuda_equals_cpu(method):
    g = torch.Generator().manual_seed(0)
    bases = torch.randn(2, 4, 32, 32, generator=g)
    boxes = [
        torch.tensor([[4.0, 6.0, 90.0, 70.0], [30.0, 10.0, 60.0, 120.0]]),
        torch.tensor([[0.0, 0.0, 128.0, 128.0]]),
    ]
    attn_size = {"blender": 7, "weighted_sum": 1, "assembler": 2}[method]
    attentions = torch.randn(3, 4, attn_size, attn_size, generator=g)
    options = dict(resolution=28, stride=4, method=method, attn_size=attn_size)
    cpu = blend(bases, boxes, attentions, **options)
    gpu = blend(bases.cuda(), [b.cuda() for b in boxes], attentions.cuda(), **options)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)


def test_model_outputs_on_cuda_equal_cpu():
    torch.manual_seed(0)
    model = BlendMask(BlendMaskConfig.from_preset("cpu_tiny", num_classes=3)).eval()
    image = torch.rand(3, 128, 160, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        cpu = model([image])[0]
        gpu = model.cuda()([image.cuda()])[0]
    torch.testing.assert_close(gpu["bases"].cpu(), cpu["bases"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu["attentions"].cpu(), cpu["attentions"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu["scores"].cpu(), cpu["scores"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu["mask_logits"].cpu(), cpu["mask_logits"], rtol=1e-3, atol=1e-3)


def test_mixed_precision_training_on_cuda(tmp_path):
    data = make_synthetic_coco(tmp_path / "data", num_train=16, num_val=2, image_size=128, seed=0)
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=3, batch_size=4, max_iter=20, warmup_iters=5)
    train_set = coco_train_set(cfg, data.train_images, data.train_ann)
    result = train(cfg, train_set, out_dir=tmp_path / "run", device="cuda", amp=True, progress=False)
    assert result.iteration == 20 and not result.interrupted
    assert all(p.is_cuda and torch.isfinite(p).all() for p in result.model.parameters())
    state = load_checkpoint(result.checkpoint)
    assert state["iteration"] == 20 and all(v.device.type == "cpu" for v in state["model"].values())
    image = train_set[0][0]
    cpu = Predictor(result.checkpoint, device="cpu").predict(image)
    gpu = Predictor(result.checkpoint, device="cuda").predict(image)
    assert gpu["masks"].shape[-2:] == cpu["masks"].shape[-2:] == image.shape[-2:]
    torch.testing.assert_close(gpu["bases"].float().cpu(), cpu["bases"], rtol=1e-3, atol=1e-3)
