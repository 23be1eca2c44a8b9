#!/usr/bin/env bash
# The GPU check, in one go from a fresh checkout (target: under ten minutes on one data-centre GPU):
#
#   bash bench/gpu_check.sh            # from the repository root, on a machine with an NVIDIA GPU
#
# 1. a virtual environment (.venv-gpu) with colweave built from this checkout (needs cargo for the Rust
#    extension), the export extra (torch, transformers) and onnxruntime-gpu in place of onnxruntime;
# 2. the full-size random-weight ColModernVBERT of bench/encode.py, exported to fp32 and to fp16 (fp16 keeps
#    RoPE in fp32), cached in $COLWEAVE_BENCH_CACHE;
# 3. the CUDA provider really in use (a silent CPU fallback fails the check);
# 4. A4 pages/s through Encoder.embed_images at a few batch sizes, and the per-token cosine of the GPU fp16
#    vectors to CPU onnxruntime fp32;
# 5. the server's import rate on the GPU: `colweave serve --device cuda` on free ports, pages inserted
#    through weaviate-client with the server's multi2vec_weaviate vectorizer.
# Target to report: ≥ 150 A4 pages/s on an H200. Without a GPU the script stops at once, saying so.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${COLWEAVE_GPU_VENV:-$ROOT/.venv-gpu}
PAGES=${COLWEAVE_GPU_PAGES:-256}

fail() { echo "gpu_check: FAILED: $*" >&2; exit 2; }

command -v nvidia-smi >/dev/null 2>&1 || fail "no NVIDIA driver here (nvidia-smi not found): this check needs a GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >/tmp/colweave-gpu.txt 2>&1 \
  || fail "nvidia-smi finds no usable GPU: $(cat /tmp/colweave-gpu.txt)"
[ -s /tmp/colweave-gpu.txt ] || fail "nvidia-smi lists no GPU"
echo "gpu_check: $(head -1 /tmp/colweave-gpu.txt)"
command -v cargo >/dev/null 2>&1 || fail "cargo not found: building colweave's Rust extension needs a Rust toolchain"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY=$VENV/bin/python
"$PY" -m pip install -q --upgrade pip maturin
"$PY" -m pip install -q "$ROOT[export,dev]"
# onnxruntime-gpu ships the same `onnxruntime` package: the CPU build must go first.
"$PY" -m pip uninstall -q -y onnxruntime
"$PY" -m pip install -q "onnxruntime-gpu>=1.19"

cd /tmp  # import the installed colweave, not the checkout's python/ folder
timeout 540 "$PY" - "$ROOT" "$PAGES" <<'PYCODE'
import json, os, statistics, subprocess, sys, time
from pathlib import Path

root, n_pages = Path(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, str(root / "bench"))
import numpy as np
import onnxruntime as ort

def fail(msg):
    print(f"gpu_check: FAILED: {msg}", file=sys.stderr)
    sys.exit(2)

if "CUDAExecutionProvider" not in ort.get_available_providers():
    fail(f"onnxruntime has no CUDAExecutionProvider (providers: {ort.get_available_providers()})")

from encode import a4_page, cache_dir, prepare
from colweave.model import Encoder
from colweave.model.export import export_model

log = lambda s: print(f"  [{time.strftime('%H:%M:%S')}] {s}", flush=True)
dirs = prepare(log)
fp16 = cache_dir() / "fp16"
if not (fp16 / "colweave.json").is_file():
    log(f"exporting fp16 to {fp16}")
    export_model(dirs["checkpoint"], fp16, dtype="fp16", log=log)

page = a4_page()
cpu = Encoder(dirs["fp32"], device="cpu", runtime="onnxruntime", precision="fp32")
ref = cpu.embed_images([page])[0]
results = {}
for batch in (1, 8, 32):
    gpu = Encoder(fp16, device="cuda", max_tiles_per_batch=13 * batch, max_tokens_per_batch=1200 * batch)
    if "CUDAExecutionProvider" not in gpu.providers:
        fail(f"the session runs on {gpu.providers}, not CUDA")
    pages = [page] * batch
    gpu.embed_images(pages)  # warm-up: cuDNN algorithm search, arena growth
    times = []
    for _ in range(5):
        t = time.perf_counter()
        out = gpu.embed_images(pages)
        times.append(time.perf_counter() - t)
    rate = batch / statistics.median(times)
    cos = (out[0] * ref).sum(axis=1)
    results[batch] = rate
    print(f"gpu_check: batch {batch:3d}: {rate:8.1f} A4 pages/s; per-token cosine to CPU fp32 "
          f"min {cos.min():.5f} mean {cos.mean():.5f}")
    del gpu

# The server's import path on the GPU.
sys.path.insert(0, str(root))
from tests.server.conftest import free_port
import base64, io, uuid
import httpx, weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Timeout

http, grpc = free_port(), free_port()
data = Path("/tmp/colweave-gpu-check-data")
subprocess.run(["rm", "-rf", str(data)], check=True)
logf = open("/tmp/colweave-gpu-check-serve.log", "wb")
proc = subprocess.Popen([sys.executable, "-m", "colweave", "serve", "--model", str(fp16), "--device", "cuda",
                         "--data-dir", str(data), "--http-port", str(http), "--grpc-port", str(grpc),
                         "--max-batch-images", "32"], stdout=logf, stderr=subprocess.STDOUT)
try:
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            fail("colweave serve exited: " + open("/tmp/colweave-gpu-check-serve.log").read()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{http}/v1/.well-known/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            fail("colweave serve did not become ready in 180 s")
        time.sleep(0.2)
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    blob = base64.b64encode(buf.getvalue()).decode()
    with weaviate.connect_to_local(port=http, grpc_port=grpc, additional_config=AdditionalConfig(
            timeout=Timeout(insert=300))) as client:
        coll = client.collections.create(
            "GpuCheck",
            properties=[Property(name="doc_page", data_type=DataType.BLOB)],
            vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")],
        )
        coll.data.insert_many([DataObject(properties={"doc_page": blob}, uuid=uuid.uuid4()) for _ in range(8)])
        t = time.perf_counter()
        with coll.batch.fixed_size(batch_size=64, concurrent_requests=4) as batch:
            for _ in range(n_pages):
                batch.add_object(properties={"doc_page": blob})
        took = time.perf_counter() - t
        failed = len(coll.batch.failed_objects)
        if failed:
            fail(f"{failed} objects failed: {coll.batch.failed_objects[0].message}")
        rate = n_pages / took
    best = max(results.values())
    print(f"gpu_check: server import {rate:.1f} A4 pages/s ({n_pages} pages through weaviate-client); "
          f"Encoder best {best:.1f} pages/s → server overhead {1 - rate / best:.0%}")
    print(f"gpu_check: target ≥ 150 A4 pages/s (H200): Encoder {'met' if best >= 150 else 'NOT met'}, "
          f"server {'met' if rate >= 150 else 'NOT met'}")
finally:
    proc.terminate()
    proc.wait(60)
PYCODE
