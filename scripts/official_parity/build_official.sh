#!/usr/bin/env bash
# Build detectron2 v0.6 and AdelaiDet 3672122 (CPU) in a separate venv, for the parity fixture.
# Not run by CI. Usage: build_official.sh [VENV=/work/offvenv] [SRC=/work/offsrc]
set -euo pipefail
VENV=${VENV:-/work/offvenv}
SRC=${SRC:-/work/offsrc}
D2_MIRROR=${D2_MIRROR:-/work/.mirror/facebookresearch+detectron2/repo}
ADET_MIRROR=${ADET_MIRROR:-/work/.mirror/aim-uofa+AdelaiDet/repo}

python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$VENV/bin/pip" install -q setuptools wheel ninja numpy "pillow<10" fvcore iopath pycocotools \
  omegaconf hydra-core cloudpickle tabulate termcolor yacs matplotlib tqdm scikit-image \
  shapely rapidfuzz editdistance opencv-python-headless

mkdir -p "$SRC/detectron2" "$SRC/AdelaiDet"
git -C "$D2_MIRROR" archive v0.6 | tar -x -C "$SRC/detectron2"
git -C "$ADET_MIRROR" archive 3672122 | tar -x -C "$SRC/AdelaiDet"
# torch 2.x: AT_DISPATCH takes a ScalarType, not a DeprecatedTypeProperties.
sed -i 's/\.type(), "BezierAlign/.scalar_type(), "BezierAlign/' \
  "$SRC/AdelaiDet/adet/layers/csrc/BezierAlign/BezierAlign_cpu.cpp"
grep -n 'AT_DISPATCH' "$SRC/AdelaiDet/adet/layers/csrc/BezierAlign/BezierAlign_cpu.cpp"

export MAX_JOBS=${MAX_JOBS:-2} FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=
"$VENV/bin/pip" install --no-build-isolation --use-pep517 --no-deps -e "$SRC/detectron2"
"$VENV/bin/pip" install --no-build-isolation --use-pep517 --no-deps -e "$SRC/AdelaiDet"
"$VENV/bin/python" -c "import detectron2, adet; from adet.modeling.blendmask import BlendMask; print('ok')"
