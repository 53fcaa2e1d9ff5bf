#!/usr/bin/env bash
# Image classification on the packaged 'animals' set: the ImageNet-pretrained EfficientNet-Lite0, backbone
# frozen (its outputs computed once), a new head trained on them. Output: runs/example-animals/.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/justfit train --data animals --model efficientnet-lite0 --freeze backbone --lr 1e-3 --epochs 10 \
    --name example-animals --overwrite "$@"
