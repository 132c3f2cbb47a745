#!/usr/bin/env bash
# Checks that a Lambda `bootstrap` binary runs on Amazon Linux 2023:
#
#   deploy/check-binary.sh BINARY [ARCH] [MAX_GLIBC]
#
# ARCH (arm64 | x86_64) is the machine the ELF header must name; omitted, it is not checked.
# MAX_GLIBC (default 2.34, Amazon Linux 2023's) is the newest GLIBC symbol version the binary
# may need: a binary that needs a newer one fails at start with "version `GLIBC_2.xx' not
# found". readelf reads ELF files of any architecture, unlike the host's objdump.
set -euo pipefail

binary="${1:?usage: $0 BINARY [arm64|x86_64] [MAX_GLIBC]}"
arch="${2:-}"
max="${3:-2.34}"

machine="$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')"
case "$arch" in
    "") ;;
    arm64) [[ "$machine" == "AArch64" ]] || { echo "$binary: built for $machine, not arm64" >&2; exit 1; } ;;
    x86_64) [[ "$machine" == *"X86-64"* ]] || { echo "$binary: built for $machine, not x86_64" >&2; exit 1; } ;;
    *) echo "unknown architecture $arch" >&2; exit 2 ;;
esac

# Every version the binary requires from glibc (the version-needs section, plus dynamic
# symbols, which also name versions), newest last.
needed="$(readelf -W --version-info --dyn-syms "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)"
if [[ -z "$needed" ]]; then
    echo "$binary: needs no versioned glibc symbol (static, or not a glibc binary?)" >&2
    exit 1
fi
newest="$(tail -n1 <<<"$needed")"
if [[ "$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -n1)" != "$max" ]]; then
    echo "$binary: needs GLIBC_$newest, newer than $max; symbols:" >&2
    readelf -W --dyn-syms "$binary" | grep "GLIBC_$newest" >&2 || true
    exit 1
fi
echo "$binary: $machine, newest glibc symbol version GLIBC_$newest (<= $max)"
