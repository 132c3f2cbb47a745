#!/bin/sh
# Builds dist/{{crate}}.wasm from app.py and wit/ with componentize-py (see build.py).
set -eu
cd "$(dirname "$0")"
exec python3 build.py
