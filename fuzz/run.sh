#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each): fuzz/run.sh [SECONDS]
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test before fixing it.
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain accept
# them (the stable toolchain ships the sanitizer runtimes).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
    echo "== fuzzing $target for ${seconds}s"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$seconds" -max_len=4096
done
