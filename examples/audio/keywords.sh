#!/usr/bin/env bash
# Keyword spotting on the packaged 'keywords' set (20 words x 792 espeak-ng voices, split by voice: the
# test voices are never heard in training): the pretrained Whisper tiny.en encoder, frozen (its outputs
# computed once), a new head trained on them. Needs espeak-ng (make setup installs it where apt is
# available); the set is synthesised once into the cache (about 3 minutes). Output: runs/example-keywords/.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/justfit train --data keywords --model whisper-tiny-en --freeze backbone --lr 1e-3 --epochs 10 \
    --name example-keywords --overwrite "$@"
