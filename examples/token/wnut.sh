#!/usr/bin/env bash
# Named entities on the packaged 'wnut' set (WNUT-16 tweets, 10 entity types, BIO): the packaged
# all-MiniLM-L6-v2 with a new token-classification head, every default (the data stage with the per-word
# label audit, early stopping on the validation entity F1). Output: runs/example-wnut/.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/justfit train --data wnut --name example-wnut --overwrite "$@"
.venv/bin/justfit predict runs/example-wnut --text "Watching the Giants game at MetLife Stadium with Sarah tonight"
