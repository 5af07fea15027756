#!/usr/bin/env bash
# Runs every fp4lab libFuzzer target for a bounded time, each from a seed corpus assembled from the repository's
# bundled files. Exit 0 when no target found a crash; a crash leaves its input in <build>/fuzz/artifacts/<target>/
# and the script exits 1 (turn the input into a regression test, docs/RELIABILITY.md says how).
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET=15] [FP4LAB_EXE]
#
# BUILD_DIR is a build configured with clang and -DFP4LAB_FUZZ=ON (targets built). FP4LAB_EXE (optional) is a
# built fp4lab used once to make a results database as the stored-run target's seed.
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-10}
exe=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$build/fuzz"
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"

seed() {  # seed TARGET FILE...: copies files into the target's corpus
  local target=$1
  shift
  mkdir -p "$work/corpus/$target"
  for f in "$@"; do cp "$f" "$work/corpus/$target/$(echo "$f" | tr '/' '_')"; done
}

# safetensors: one small valid file per dtype layout, and the real headers of the bundled checkpoints.
mkdir -p "$work/seeds"
python3 - "$work/seeds" "$root" <<'PY'
import json, struct, sys, os
out, root = sys.argv[1], sys.argv[2]
def st(path, tensors, meta=None):
    header, data = {}, b""
    if meta: header["__metadata__"] = meta
    for name, dtype, shape, size in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes(size)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)
st(f"{out}/two.safetensors", [("w", "BF16", [2, 3], 12), ("s", "F8_E4M3", [4], 4)], {"format": "pt"})
st(f"{out}/empty_tensor.safetensors", [("e", "F32", [0, 5], 0), ("i", "I64", [1], 8)])
for rel in ["datasets/models/stories260K/model.safetensors", "tests/fixtures/llama_tiny_nvfp4/model.safetensors"]:
    raw = open(os.path.join(root, rel), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    open(f"{out}/header_{os.path.basename(os.path.dirname(rel))}.safetensors", "wb").write(raw[:8 + n])
open(f"{out}/index.json", "w").write(json.dumps(
    {"metadata": {"total_size": 16}, "weight_map": {"a": "a.safetensors", "b": "b.safetensors"}}))
PY
# tokenizer.json: each bundled family's file cut to its first 300 vocabulary ids and the merges among them (the full
# files are megabytes, past -max_len), keeping its normalizer, pre-tokenizer, post-processor, decoder and up to 40
# added tokens; plus one small file with the component types none of them uses.
python3 - "$work/seeds" "$root" <<'PY'
import glob, gzip, json, os, sys
out, root = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(f"{root}/tests/fixtures/tokenizers/*/tokenizer.json.gz")):
    t = json.loads(gzip.decompress(open(path, "rb").read()))
    model = t["model"]
    vocab = {token: i for token, i in model["vocab"].items() if i < 300}
    pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in model.get("merges", [])]
    model["merges"] = [m for m in pairs if m[0] in vocab and m[1] in vocab and m[0] + m[1] in vocab]
    model["vocab"] = vocab
    t["added_tokens"] = t.get("added_tokens", [])[:40]
    family = os.path.basename(os.path.dirname(path))
    open(f"{out}/{family}.tokenizer.json", "w").write(json.dumps(t, ensure_ascii=False, separators=(",", ":")))
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "\u2581a": 6, "ab": 7, "1": 8, "2": 9}
open(f"{out}/components.tokenizer.json", "w").write(json.dumps({
    "added_tokens": [{"id": 1, "content": "<s>", "special": True, "normalized": False, "single_word": False,
                      "lstrip": False, "rstrip": False},
                     {"id": 10, "content": "ab", "special": False, "normalized": True, "single_word": True,
                      "lstrip": True, "rstrip": True}],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Prepend", "prepend": "\u2581"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True}, {"type": "Whitespace"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]},
    "post_processor": {"type": "RobertaProcessing", "cls": ["<s>", 1], "sep": ["</s>", 2]},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "vocab": vocab,
              "merges": ["\u2581 a", "a b"]}}, ensure_ascii=False))
PY
seed safetensors_header "$work"/seeds/*.safetensors
seed safetensors_index "$work/seeds/index.json"
seed config "$root"/datasets/models/stories260K/config.json "$root"/tests/fixtures/*/config.json \
     "$root"/tests/fixtures/llama_tiny_nvfp4/hf_quant_config.json
seed mmlu_csv "$root"/datasets/mmlu/dev/abstract_algebra_dev.csv "$root"/datasets/mmlu/test/world_religions_test.csv
seed humaneval_jsonl "$root"/datasets/humaneval/humaneval_sample.jsonl
seed gate_rules "$root"/docs/examples/gate.json
seed tokenizer_json "$work"/seeds/*.tokenizer.json
mkdir -p "$work/corpus/stored_run"
if [ -n "$exe" ]; then
  FP4LAB_DATA_DIR="$root/datasets" "$exe" run --tasks perplexity --precisions nvfp4-w4a16 --calib "" --ctx 64 \
    --ppl-data "$root/tests/fixtures/text/three_stories.txt" --report "" --db "$work/seeds/run.sqlite" >/dev/null 2>&1
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=DELETE'); c.execute('PRAGMA page_size=512'); \
c.execute('VACUUM'); c.close()" "$work/seeds/run.sqlite"
  seed stored_run "$work/seeds/run.sqlite"
fi

status=0
for target in safetensors_header safetensors_index config tokenizer_json mmlu_csv humaneval_jsonl gate_rules \
              stored_run; do
  bin="$build/tests/fuzz/fp4lab_fuzz_$target"
  mkdir -p "$work/artifacts/$target"
  echo "== $target: ${seconds}s"
  if ! "$bin" "$work/corpus/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    echo "!! $target found a failure; input in $work/artifacts/$target/, log in $work/$target.log"
    tail -n 40 "$work/$target.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/$target.log" | tail -n 2
  fi
done
exit $status
