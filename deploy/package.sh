#!/usr/bin/env bash
# Builds the Lambda function (crate clickrules-lambda, binary `bootstrap`) for the
# provided.al2023 runtime and zips it, for arm64 and x86_64:
#
#   deploy/package.sh              # both architectures
#   deploy/package.sh arm64        # or one: arm64 | x86_64
#
# Output: deploy/dist/<arch>/bootstrap.zip (the zip holds one file, `bootstrap`), and
# deploy/dist/build-id, a content hash of the zips to use as the S3 key prefix so that
# CloudFormation sees new code as a change (see deploy/README.md).
#
# Needs: rustup targets aarch64-unknown-linux-gnu and x86_64-unknown-linux-gnu, and
# cargo-lambda with zig (`pip install cargo-lambda ziglang`). Zig links against glibc 2.34,
# the version of Amazon Linux 2023, so the binary cannot need a newer one; the GLIBC check
# below proves it on the file that is zipped.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
dist="$here/dist"
# Amazon Linux 2023 ships glibc 2.34.
glibc="2.34"
# DESIGN.md section 9: each zip under 10 MB (decimal: the figure AWS quotes for uploads).
max_zip_bytes=10000000

case "${1:-all}" in
    all) arches=(arm64 x86_64) ;;
    arm64 | x86_64) arches=("$1") ;;
    *)
        echo "usage: $0 [all|arm64|x86_64]" >&2
        exit 2
        ;;
esac

if ! command -v cargo-lambda >/dev/null; then
    echo "cargo-lambda not found: pip install cargo-lambda ziglang" >&2
    exit 1
fi

# Size without touching the workspace's release profile (the benchmarks use it): drop symbols
# and debug info, and let thin LTO remove code across crates. opt-level stays 3 because
# compiling the guest with Cranelift at cold start is on the critical path.
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_RELEASE_LTO=thin
export CARGO_PROFILE_RELEASE_DEBUG=false

for arch in "${arches[@]}"; do
    case "$arch" in
        arm64) triple=aarch64-unknown-linux-gnu ;;
        x86_64) triple=x86_64-unknown-linux-gnu ;;
    esac
    echo "--- building bootstrap for $arch ($triple, glibc $glibc)"
    rm -rf "${dist:?}/$arch"
    mkdir -p "$dist/$arch"
    (cd "$root" && cargo lambda build --release \
        -p clickrules-lambda --bin bootstrap \
        --target "$triple.$glibc" \
        --output-format zip --lambda-dir "$dist/$arch" --flatten bootstrap)
    zip="$dist/$arch/bootstrap.zip"
    # Check the file that was zipped, not the one in the target directory.
    tmp="$(mktemp -d)"
    unzip -q "$zip" -d "$tmp"
    "$here/check-binary.sh" "$tmp/bootstrap" "$arch" "$glibc"
    rm -rf "$tmp"
    size="$(stat -c %s "$zip")"
    echo "$zip: $size bytes"
    if [ "$size" -gt "$max_zip_bytes" ]; then
        echo "$zip is $size bytes, over the $max_zip_bytes-byte budget" >&2
        exit 1
    fi
done

# A content hash of every zip built so far: new code, new S3 keys.
(cd "$dist" && cat ./*/bootstrap.zip | sha256sum | cut -c1-16) >"$dist/build-id"
echo "build-id $(cat "$dist/build-id")"
