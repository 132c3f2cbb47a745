#!/bin/sh
# Builds dist/{{crate}}.wasm from app.py and wit/ with componentize-py.
set -eu
cd "$(dirname "$0")"
mkdir -p dist
PYTHONDONTWRITEBYTECODE=1 componentize-py -d wit -w click-handler componentize app -o dist/{{crate}}.wasm
