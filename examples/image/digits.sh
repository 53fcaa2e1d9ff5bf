#!/usr/bin/env bash
# Image classification on the packaged 'digits' set: the ImageNet-pretrained EfficientNet-Lite0, backbone
# frozen (its outputs computed once), a new head trained on them. Output: runs/example-digits/.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/justfit train --data digits --model efficientnet-lite0 --freeze backbone --lr 1e-3 --epochs 10 \
    --name example-digits --overwrite "$@"
