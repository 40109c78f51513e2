#!/usr/bin/env bash
# Regenerates the committed ABI and bytecode from the Solidity sources with solc-js
# (npm package `solc`, pinned). Not needed to build or test: the output is committed.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --silent solc@0.8.26 >/dev/null)
"$work/node_modules/.bin/solcjs" --optimize --abi --bin -o "$work/out" ChronicleAnchor.sol
python3 - "$work/out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
abi = json.loads(next(out.glob("*ChronicleAnchor.abi")).read_text())
bin_ = next(out.glob("*ChronicleAnchor.bin")).read_text().strip()
target = pathlib.Path("../src/coalition/services/chronicle_anchor.json")
target.write_text(json.dumps({"compiler": "solc-js 0.8.26 --optimize", "abi": abi, "bytecode": "0x" + bin_}, indent=1) + "\n")
print(f"wrote {target}")
PY
