#!/usr/bin/env bash
# The packages for Python and Node users, built and tested as they get them. These are the steps of
# the release workflow's Linux x86_64 job (.github/workflows/release.yml), run by .ci/run:
#
#   1. the wheel, by maturin (pinned) with the workspace's release profile (target/release);
#   2. the npm packages: b24-server and @b24-server/linux-x64 (the binary the wheel holds);
#   3. the wheel installed with no network (pip --no-index) into a fresh virtual environment whose
#      other packages (pytest, b24pysdk, pinned) come from the registry; the package's tests and the
#      b24pysdk example suite run there, and mypy --strict checks the installed package;
#   4. the two tarballs installed with no network (npm --offline, an unreachable registry) into a
#      fresh folder holding the vitest example (b24jssdk and vitest from its lockfile); the
#      package's tests and the example suite run there, and tsc checks its declarations.
#
# Any failure fails the run. Outputs: target/packaging/{wheels,npm}.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/packaging
MATURIN_VERSION=1.16.0
NO_REGISTRY=http://127.0.0.1:9/ # nothing listens there: an install that needs the network fails

rm -rf "$OUT/wheels" "$OUT/npm" "$OUT/py-test" "$OUT/npm-test"
mkdir -p "$OUT"

echo "== packaging: the wheel (maturin $MATURIN_VERSION)"
if ! "$OUT/tools/bin/maturin" --version 2>/dev/null | grep -qx "maturin $MATURIN_VERSION"; then
    rm -rf "$OUT/tools"
    python3 -m venv "$OUT/tools"
    "$OUT/tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
(cd packaging/python && "$OUT/tools/bin/maturin" build --release --out "$OUT/wheels")
WHEEL=$(ls "$OUT"/wheels/b24_server-*-py3-none-*.whl)
VERSION=$(node -p 'require("./packaging/npm/b24-server/package.json").version')
case "$(basename "$WHEEL")" in
    "b24_server-$VERSION-"*) echo "$WHEEL" ;;
    *) echo "the wheel $WHEEL and the npm package ($VERSION) have different versions" >&2; exit 1 ;;
esac

echo "== packaging: the npm packages (the binary the wheel holds)"
mkdir -p "$OUT/npm"
python3 packaging/wheel_binary.py "$WHEEL" "$OUT/npm/b24-server"
node packaging/npm/stage-platform.js linux-x64 "$OUT/npm/b24-server" "$OUT/npm/linux-x64"
(cd "$OUT/npm" && npm pack --silent "$ROOT/packaging/npm/b24-server" ./linux-x64)

echo "== packaging: the wheel in a fresh virtual environment, installed offline"
python3 -m venv "$OUT/py-test"
PY="$OUT/py-test/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check \
    -r examples/testing/pytest-plugin/requirements.txt -r packaging/python/tests/requirements.txt
"$PY" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$OUT/wheels" b24-server
# From a folder outside the source tree: the package under test is the installed one.
mkdir -p "$OUT/py-test/run"
cp packaging/python/tests/test_package.py examples/testing/pytest-plugin/test_with_b24pysdk.py "$OUT/py-test/run/"
(cd "$OUT/py-test/run" && env -u B24_SERVER_BINARY "$PY" -m pytest -q -p no:cacheprovider .)
echo "== packaging: the installed package's types (mypy --strict)"
(cd "$OUT/py-test/run" && "$PY" -m mypy --strict --no-incremental -p b24_server)

echo "== packaging: the npm tarballs in a fresh folder, installed offline"
mkdir -p "$OUT/npm-test"
cp examples/testing/vitest-package/{package.json,package-lock.json,vitest.config.js,deals.test.js} \
    packaging/npm/test/{package.test.js,types.check.ts} "$OUT/npm-test/"
(
    cd "$OUT/npm-test"
    npm ci --no-audit --no-fund --loglevel=error
    npm install --no-save --offline --registry "$NO_REGISTRY" --no-audit --no-fund --loglevel=error \
        "../npm/b24-server-$VERSION.tgz" "../npm/b24-server-linux-x64-$VERSION.tgz"
    env -u B24_SERVER_BINARY npx --no-install vitest run
    echo "== packaging: the installed package's types (tsc --strict)"
    npx --no-install tsc --noEmit --strict --skipLibCheck --module nodenext --moduleResolution nodenext \
        --target es2022 types.check.ts
)
