"""Encoder speed at full size: onnxruntime fp32 vs PyTorch eager, int8 vs fp32, the roofline, queries.

    python bench/encode.py                 # needs the export extra the first time (builds the model)
    python bench/encode.py --rounds 1      # quicker, noisier

The model is ColModernVBERT's real architecture (252 M parameters) with random weights: no weights can be
downloaded here, and speed does not depend on their values. It is built once with transformers from the real
config (``tests/fixtures/configs``), exported by ``colweave export`` to fp32 and int8 model directories,
and cached outside git (``$COLWEAVE_BENCH_CACHE``, default ``~/.cache/colweave/bench-encode``). Its
tokenizer is a byte-level BPE trained here, padded to the real vocabulary size, the 40 extra tokens
at the real ids (``<image>`` = 50407): a 20-word query gets about as many tokens as with the real one.

Per A4 page (4 x 3 tiles + the global tile = 13 tiles) and per 20-word query, in interleaved rounds (medians):
onnxruntime fp32 vs PyTorch eager on the same weights (when torch is installed), int8 vs fp32 with the mean
per-token cosine to fp32, and the page's FLOPs divided by numpy's sgemm rate measured in the same run (what
the page would take at BLAS speed: the roofline fraction is that time over the measured one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import blas_info, interleaved, sgemm_gflops

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "tests" / "fixtures" / "configs"
REAL_CONFIG = CONFIGS / "RECONSTRUCTED__colmodernvbert_transformers_native_config.json"
REAL_PREPROCESSOR = CONFIGS / "Qdrant__colmodernvbert__preprocessor_config.json"
QUERY = (
    "what was the total operating revenue of the company in the third quarter of the fiscal year "
    "compared with last year"
)
CORPUS_WORDS = (
    QUERY + " page table figure chart report document invoice contract annual summary results"
).split()


def cache_dir() -> Path:
    return Path(os.environ.get("COLWEAVE_BENCH_CACHE", Path.home() / ".cache" / "colweave" / "bench-encode"))


def build_tokenizer(vocab_size: int, extra: list[str]) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    sentences = [" ".join(CORPUS_WORDS[i:] + CORPUS_WORDS[:i]) for i in range(len(CORPUS_WORDS))]
    tok.train_from_iterator(sentences * 20, trainer)
    filler = vocab_size - tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(f"<unused_{i}>", special=True) for i in range(filler)])
    tok.add_special_tokens(extra)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def build_model(path: Path) -> None:
    """A random-weight checkpoint of the real config, written as transformers' save_pretrained writes it."""
    import torch
    from transformers import (
        ColModernVBertConfig,
        ColModernVBertForRetrieval,
        ColModernVBertProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    raw = json.loads(REAL_CONFIG.read_text())
    raw.pop("_NOTE", None)
    text = raw["vlm_config"]["text_config"]
    extra = (
        ["<global-img>"]
        + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
        + ["<end_of_utterance>", "<fake_token_around_image>", "<image>"]
    )
    tok = build_tokenizer(text["vocab_size"] - len(extra), extra)
    assert tok.get_vocab_size() == text["vocab_size"], tok.get_vocab_size()
    assert tok.token_to_id("<image>") == raw["vlm_config"]["image_token_id"]
    for key, token in (
        ("pad_token_id", "[PAD]"),
        ("bos_token_id", "[CLS]"),
        ("cls_token_id", "[CLS]"),
        ("eos_token_id", "[SEP]"),
        ("sep_token_id", "[SEP]"),
    ):
        text[key] = tok.token_to_id(token)
    torch.manual_seed(0)
    model = ColModernVBertForRetrieval(ColModernVBertConfig(**raw)).eval()
    model.save_pretrained(path)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        unk_token="[UNK]",
        model_max_length=8192,
    )
    pre = json.loads(REAL_PREPROCESSOR.read_text())
    keep = {
        k: pre[k] for k in ("size", "max_image_size", "resample", "image_mean", "image_std", "rescale_factor")
    }
    processor = ColModernVBertProcessor(
        image_processor=Idefics3ImageProcessorPil(**keep), tokenizer=fast, image_seq_len=64
    )
    processor.save_pretrained(path)


def prepare(log: Any) -> dict[str, Path]:
    root = cache_dir()
    dirs = {"checkpoint": root / "checkpoint", "fp32": root / "fp32", "int8": root / "int8"}
    if not (dirs["checkpoint"] / "config.json").is_file():
        log(f"building the random-weight full-size checkpoint in {dirs['checkpoint']}")
        build_model(dirs["checkpoint"])
    from colweave.model.export import export_model

    for name, kwargs in (("fp32", {}), ("int8", {"quantize": "int8"})):
        if not (dirs[name] / "colweave.json").is_file():
            log(f"exporting {name} to {dirs[name]}")
            export_model(dirs["checkpoint"], dirs[name], log=log, **kwargs)
    return dirs


def a4_page() -> Any:
    """An A4 page at 150 dpi (1240 x 1754) with text-like strokes: 4 x 3 tiles + the global tile."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    for y in range(120, 1650, 28):
        x = 100
        while x < 1100:
            w = int(rng.integers(20, 90))
            draw.rectangle([x, y, x + w, y + 12], fill=tuple(int(v) for v in rng.integers(0, 80, 3)))
            x += w + int(rng.integers(8, 20))
    return img


def page_flops(cfg: dict[str, Any], n_tiles: int, seq: int) -> float:
    """FLOPs executed for one page (2 per multiply-add; attention at its full S x S, as eager runs it)."""
    v, t = cfg["vlm_config"]["vision_config"], cfg["vlm_config"]["text_config"]
    n = (v["image_size"] // v["patch_size"]) ** 2
    d, f = v["hidden_size"], v["intermediate_size"]
    per_layer = n * (4 * d * d + 2 * d * f) + 2 * n * n * d
    shuffle = cfg["vlm_config"]["pixel_shuffle_factor"] ** 2
    vision = (
        n * 3 * v["patch_size"] ** 2 * d
        + v["num_hidden_layers"] * per_layer
        + (n // shuffle) * d * shuffle * t["hidden_size"]
    )
    dt, ft = t["hidden_size"], t["intermediate_size"]
    text = (
        t["num_hidden_layers"] * (seq * (4 * dt * dt + 3 * dt * ft) + 2 * seq * seq * dt)
        + seq * dt * cfg["embedding_dim"]
    )
    return 2.0 * (n_tiles * vision + text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="timed page rounds per implementation (median)")
    ap.add_argument("--query-reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = ap.parse_args()
    log = lambda s: print(f"  [{time.strftime('%H:%M:%S')}] {s}", flush=True)  # noqa: E731

    from colweave.model import Encoder

    dirs = prepare(log)
    load_start = os.getloadavg()
    fp32 = Encoder(dirs["fp32"], device="cpu", threads=args.threads)
    int8 = Encoder(dirs["int8"], device="cpu", threads=args.threads)
    # The same fp32 model with onnxruntime's workers spinning between operators (--ort-spin on the server):
    # what a query costs on dedicated cores; the default (no spinning) is what shared cores want.
    fp32_spin = Encoder(dirs["fp32"], device="cpu", threads=args.threads, spin=True)
    page = a4_page()
    ref = fp32.embed_images([page])[0]
    n_tiles = 13
    cfg = json.loads((dirs["fp32"] / "config.json").read_text())
    flops = page_flops(cfg, n_tiles, ref.shape[0])

    fns: dict[str, Any] = {
        "onnxruntime fp32": lambda: fp32.embed_images([page]),
        "onnxruntime int8": lambda: int8.embed_images([page]),
    }
    torch_out = None
    if not args.no_torch:
        try:
            import torch
            from transformers import ColModernVBertForRetrieval, ColModernVBertProcessor
        except ImportError:
            log("torch / transformers not installed: no PyTorch comparison")
        else:
            torch.set_num_threads(args.threads)
            model = ColModernVBertForRetrieval.from_pretrained(dirs["checkpoint"]).eval()
            processor = ColModernVBertProcessor.from_pretrained(dirs["checkpoint"])
            log(f"PyTorch {torch.__version__}, attention implementation {model.config._attn_implementation}")

            def torch_page() -> Any:
                with torch.inference_mode():
                    return model(**processor.process_images([page])).embeddings[0].numpy()

            fns["torch eager fp32"] = torch_page
            torch_out = torch_page()
    log(f"timing {len(fns)} implementations x {args.rounds} rounds of one A4 page ({args.threads} threads)")
    times = interleaved(fns, rounds=args.rounds, settle=0.5)
    q_times: dict[str, list[float]] = {"fp32": [], "int8": [], "fp32 spin": []}
    for enc in (fp32, int8, fp32_spin):
        enc.embed_queries([QUERY])
    # The spinning session is timed on its own afterwards: its spinning workers would slow the others.
    for _ in range(args.query_reps):
        for name, enc in (("fp32", fp32), ("int8", int8)):
            t = time.perf_counter()
            enc.embed_queries([QUERY])
            q_times[name].append(time.perf_counter() - t)
    time.sleep(0.5)
    for _ in range(args.query_reps):
        t = time.perf_counter()
        fp32_spin.embed_queries([QUERY])
        q_times["fp32 spin"].append(time.perf_counter() - t)
    q_tokens = fp32.embed_queries([QUERY])[0].shape[0]
    gflops = sgemm_gflops(4096, args.threads)
    i8 = int8.embed_images([page])[0]
    cos = (i8 * ref).sum(axis=1)
    q8 = (int8.embed_queries([QUERY])[0] * fp32.embed_queries([QUERY])[0]).sum(axis=1)

    t32, t8 = times["onnxruntime fp32"], times["onnxruntime int8"]
    print(
        f"\nA4 page: 1240x1754 → 4x3 grid + global = {n_tiles} tiles, {ref.shape[0]} vectors; "
        f"{flops / 1e12:.2f} TFLOP; {args.threads} threads; median of {args.rounds}"
    )
    print(f"BLAS: {blas_info()}; numpy sgemm 4096³: {gflops:.0f} GFLOP/s")
    load_end = os.getloadavg()
    print(
        f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (1 min), "
        f"{os.cpu_count()} CPUs: "
        "other processes' load slows every implementation, onnxruntime and PyTorch differently"
    )
    if "torch eager fp32" in times and torch_out is not None:
        tt = times["torch eager fp32"]
        diff = float(np.abs(torch_out - ref).max())
        print(
            f"  onnxruntime fp32 {t32:7.2f} s/page   PyTorch eager {tt:7.2f} s/page   → {tt / t32:.2f}x "
            f"(target ≥ 1.15x: {'met' if tt / t32 >= 1.15 else 'NOT met'}); max |Δ| to PyTorch {diff:.1e}"
        )
    else:
        print(f"  onnxruntime fp32 {t32:7.2f} s/page   (no PyTorch comparison)")
    print(
        f"  onnxruntime int8 {t8:7.2f} s/page   → {t32 / t8:.2f}x fp32 (target ≥ 1.6x: "
        f"{'met' if t32 / t8 >= 1.6 else 'NOT met'}); per-token cosine to fp32 mean {cos.mean():.4f} "
        f"min {cos.min():.4f} (target mean ≥ 0.99: {'met' if cos.mean() >= 0.99 else 'NOT met'})"
    )
    at_blas = flops / (gflops * 1e9)
    print(
        f"  roofline: the page at numpy's sgemm rate takes {at_blas:.2f} s → fp32 reaches "
        f"{at_blas / t32:.0%}, int8 {at_blas / t8:.0%} of it"
    )
    p50, p50_8 = statistics.median(q_times["fp32"]), statistics.median(q_times["int8"])
    p50_spin = statistics.median(q_times["fp32 spin"])
    print(
        f"20-word query ({q_tokens} tokens): p50 fp32 {p50 * 1e3:.1f} ms, int8 {p50_8 * 1e3:.1f} ms "
        f"(target ≤ 45 ms: fp32 {'met' if p50 <= 0.045 else 'NOT met'}, "
        f"int8 {'met' if p50_8 <= 0.045 else 'NOT met'}); "
        f"int8 query cosine mean {q8.mean():.4f}"
    )
    print(
        f"  fp32 with onnxruntime spinning (dedicated cores, --ort-spin): p50 {p50_spin * 1e3:.1f} ms "
        f"(target ≤ 45 ms: {'met' if p50_spin <= 0.045 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
