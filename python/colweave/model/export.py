"""``colweave export``: a transformers-native ColModernVBERT checkpoint → a colweave model directory.

Needs the ``export`` extra (torch, transformers, onnx, onnxscript). The stock forward does not export
(in-place ``|=``, boolean tile filtering, ``masked_scatter``, ``.tolist()``), so the model is cut in two
graphs built from the checkpoint's own modules:

* ``vision.onnx``: ``pixel_values`` (tiles, 3, H, W) → SigLIP → pixel shuffle + projection →
  ``image_features`` (tiles, image_seq_len, hidden);
* ``text.onnx``: ``input_ids``, ``attention_mask`` (batch, seq) and ``image_features`` → token embeddings with
  the ``<image>`` positions replaced in order (a cumulative-sum index and a ``where``) → ModernBERT →
  projection → L2 normalisation → times the mask = ``embeddings`` (batch, seq, dim). A query feeds zero tiles.

The graphs' inputs and outputs are float32 whatever ``--dtype``: with fp16 the casts are inside the graphs,
and the rotary frequencies stay fp32 (θ = 160000 gives fp16 subnormals). ``--quantize int8`` applies
onnxruntime's dynamic quantisation to the MatMuls (weights int8 per channel, activations uint8 at run time).
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from colweave.model import hub
from colweave.model.config import load_model_config, load_processor_config
from colweave.model.errors import ModelFilesError
from colweave.model.manifest import FORMAT, FORMAT_VERSION, file_entries, write_manifest

DTYPES = ("fp32", "fp16")
QUANTIZATIONS = ("int8",)
DEFAULT_OPSET = 18
#: The largest max |Δ| the export's self-check accepts on unit-norm vectors (fp32 measures ~1e-6).
VERIFY_LIMITS = {"fp32": 1e-4, "fp16": 2e-2}
#: int8 is judged by the mean per-token cosine to PyTorch fp32 instead.
INT8_MIN_COSINE = 0.95
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _require_export_deps() -> Any:
    try:
        import onnx  # noqa: F401
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        raise RuntimeError(
            f"colweave export needs the export extra ({e.name} is missing): in the colweave clone, run "
            "`.venv/bin/pip install -e '.[export]'` (or `make export-env` for a separate .venv-export)"
        ) from e
    return torch


FUSED_ATTENTION = "colweave_ort_mha"


def _register_fused_attention() -> None:
    """Registers an attention function for transformers whose ONNX form is onnxruntime's fused
    ``com.microsoft.MultiHeadAttention`` (PyTorch computes it with SDPA, so traces and checks are exact).

    The vision graph's plain attention (MatMul, Softmax, MatMul over 12 x 1024 x 1024 scores per tile) spent
    about 45 % of a tile's time in onnxruntime; the fused CPU kernel halves that part."""
    torch = _require_export_deps()
    from transformers import AttentionInterface

    if FUSED_ATTENTION in AttentionInterface._global_mapping:
        return

    @torch.library.custom_op(  # type: ignore[untyped-decorator]
        "colweave::multi_head_attention",
        mutates_args=(),
        schema="(Tensor q, Tensor k, Tensor v, int num_heads, float scale) -> Tensor",
    )
    def mha(q: Any, k: Any, v: Any, num_heads: int, scale: float) -> Any:  # (B, N, H*d) each
        b, n, hd = q.shape
        shape = (b, n, num_heads, hd // num_heads)
        q4, k4, v4 = (x.reshape(shape).transpose(1, 2) for x in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q4, k4, v4, scale=scale)
        return out.transpose(1, 2).reshape(b, n, hd).contiguous()

    def symbolic(g: Any, q: Any, k: Any, v: Any, num_heads: Any, scale: Any) -> Any:
        from torch.onnx import symbolic_helper

        heads = symbolic_helper._get_const(num_heads, "i", "num_heads")
        factor = symbolic_helper._get_const(scale, "f", "scale")
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads, scale_f=factor)
        out.setType(q.type())
        return out

    torch.onnx.register_custom_op_symbolic("colweave::multi_head_attention", symbolic, 1)

    def fused(
        module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, **_: Any
    ) -> Any:
        if attention_mask is not None:
            raise ValueError("the fused export attention takes no mask")
        b, h, n, d = query.shape
        q, k, v = (x.transpose(1, 2).reshape(b, n, h * d) for x in (query, key, value))
        out = torch.ops.colweave.multi_head_attention(q, k, v, h, float(scaling))
        return out.reshape(b, n, h, d), None

    AttentionInterface.register(FUSED_ATTENTION, fused)


def build_graph_modules(model: Any, fused_attention: bool = False) -> tuple[Any, Any]:
    """The two export wrappers around a loaded ``ColModernVBertForRetrieval`` (torch imported lazily).

    With ``fused_attention`` the vision graph's attention becomes onnxruntime's MultiHeadAttention (CPU and
    CUDA kernels exist for float32; the plain form is kept for fp16 graphs)."""
    torch = _require_export_deps()
    if fused_attention:
        _register_fused_attention()
    module_base: Any = torch.nn.Module

    vlm = model.vlm
    text_cfg = vlm.config.text_config
    image_token_id = int(vlm.config.image_token_id)
    window = int(text_cfg.sliding_window)

    class Vision(module_base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.vision = vlm.vision_model
            self.connector = vlm.connector

        def forward(self, pixel_values: Any) -> Any:
            dtype = self.connector.modality_projection.weight.dtype
            h = self.vision.embeddings(pixel_values.to(dtype))
            cfg = self.vision.config
            saved = cfg._attn_implementation_internal
            if fused_attention:
                cfg._attn_implementation_internal = FUSED_ATTENTION
            try:
                h = self.vision.encoder(inputs_embeds=h).last_hidden_state
            finally:
                cfg._attn_implementation_internal = saved
            h = self.vision.post_layernorm(h)
            return self.connector(h).float()

    class Text(module_base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.text = vlm.text_model
            self.proj = model.embedding_proj_layer

        def forward(self, input_ids: Any, attention_mask: Any, image_features: Any) -> Any:
            emb = self.text.embeddings.tok_embeddings(input_ids)
            batch, seq, hidden = emb.shape
            is_image = input_ids == image_token_id
            flat = is_image.reshape(-1).to(torch.int64)
            index = torch.cumsum(flat, 0) * flat  # k-th image token → row k of [zeros; features]
            feats = image_features.reshape(-1, hidden).to(emb.dtype)
            feats = torch.cat([torch.zeros_like(emb[0, :1]), feats], 0)
            injected = torch.index_select(feats, 0, index).reshape(batch, seq, hidden)
            emb = torch.where(is_image.unsqueeze(-1), injected, emb)

            keep = attention_mask.to(torch.bool)
            pos = torch.arange(seq, device=input_ids.device)
            diag = pos[:, None] == pos[None, :]
            allowed = keep[:, None, None, :] | diag  # padding rows may see themselves: no all-masked rows
            near = (pos[:, None] - pos[None, :]).abs() <= window
            neg = torch.finfo(emb.dtype).min
            zero = torch.zeros((), dtype=emb.dtype)
            full = torch.where(allowed, zero, neg)
            sliding = torch.where(allowed & near, zero, neg)
            out = self.text(
                inputs_embeds=emb,
                attention_mask={"full_attention": full, "sliding_attention": sliding},
            ).last_hidden_state
            x = self.proj(out.to(self.proj.weight.dtype)).float()
            x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return x * attention_mask.unsqueeze(-1).to(x.dtype)

    return Vision().eval(), Text().eval()


def build_single_graph_module(model: Any) -> Any:
    """One graph with the public ``Qdrant/colmodernvbert`` interface (input_ids, attention_mask,
    pixel_values (batch, tiles, 3, H, W)) → embeddings. Used to test colweave's loader for that layout."""
    torch = _require_export_deps()
    vision, text = build_graph_modules(model)
    seq_len = int(model.vlm.image_seq_len)
    image_token_id = int(model.vlm.config.image_token_id)
    module_base: Any = torch.nn.Module

    class Single(module_base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.vision_graph = vision
            self.text_graph = text

        def forward(self, input_ids: Any, attention_mask: Any, pixel_values: Any) -> Any:
            b, t = pixel_values.shape[0], pixel_values.shape[1]
            feats = self.vision_graph(pixel_values.reshape(b * t, *pixel_values.shape[2:]))
            hidden = feats.shape[-1]
            flat_feats = feats.reshape(-1, hidden)
            is_image = (input_ids == image_token_id).to(torch.int64)
            k = torch.cumsum(is_image, 1) - 1  # per row: the k-th image token of this row
            row = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None]
            index = (row * (t * seq_len) + k).clamp(0, flat_feats.shape[0] - 1) * is_image
            # rows' features in token order, so the text graph's global cumulative index lines up
            ordered = torch.index_select(flat_feats, 0, index.reshape(-1)[is_image.reshape(-1).bool()])
            return self.text_graph(input_ids, attention_mask, ordered.reshape(-1, seq_len, hidden))

    return Single().eval()


def _export(
    module: Any,
    args: tuple[Any, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
    custom_opsets: dict[str, int] | None = None,
) -> None:
    torch = _require_export_deps()
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # the pixel shuffle's int(seq ** 0.5) is constant for the fixed tile size: the tracer warning is moot
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            custom_opsets=custom_opsets,
            dynamo=False,
        )


def _sample_inputs(model: Any, tile: int) -> tuple[Any, Any, Any, Any]:
    torch = _require_export_deps()
    g = torch.Generator().manual_seed(0)
    seq_len = int(model.vlm.image_seq_len)
    image_token_id = int(model.vlm.config.image_token_id)
    vocab = int(model.vlm.config.text_config.vocab_size)
    pixel_values = torch.rand(2, 3, tile, tile, generator=g) * 2 - 1
    ids = torch.randint(0, min(vocab, image_token_id), (2, 2 * seq_len + 7), generator=g)
    ids[0, 3 : 3 + seq_len] = image_token_id
    ids[0, 4 + seq_len : 4 + 2 * seq_len] = image_token_id
    mask = torch.ones_like(ids)
    mask[1, -5:] = 0
    return pixel_values, ids, mask, seq_len


def export_model(
    source: str | Path,
    out_dir: str | Path,
    *,
    dtype: str = "fp32",
    quantize: str | None = None,
    revision: str | None = None,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    single_graph: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Exports ``source`` (a directory or a hub id) into ``out_dir``; returns the manifest written there."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None, got {quantize!r}")
    if quantize and dtype != "fp32":
        raise ValueError("--quantize int8 starts from fp32 graphs: use it with --dtype fp32")
    torch = _require_export_deps()
    import onnx
    import onnxruntime
    import transformers
    from transformers import ColModernVBertForRetrieval

    resolved = hub.resolve(source, revision)
    src = resolved.path
    model_cfg = load_model_config(src)
    proc_cfg = load_processor_config(src, model_cfg)
    missing = [f for f in ("config.json", "tokenizer.json") if not (src / f).is_file()]
    if missing:
        raise ModelFilesError(f"{src} lacks {', '.join(missing)}: not a ColModernVBERT checkpoint directory")

    log(f"loading {resolved.source} ({src})")
    t0 = time.perf_counter()
    model = ColModernVBertForRetrieval.from_pretrained(src, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    ref_model = None
    if dtype == "fp16":
        ref_model = model
        model = ColModernVBertForRetrieval.from_pretrained(
            src, attn_implementation="eager", dtype=torch.float32
        )
        model.half().eval()
        rotary = model.vlm.text_model.rotary_emb
        for name, _buf in list(rotary.named_buffers()):
            if name.endswith("inv_freq"):  # keep RoPE frequencies fp32
                setattr(rotary, name, ref_model.vlm.text_model.rotary_emb.get_buffer(name).clone())
    seq_len = int(model.vlm.image_seq_len)
    if seq_len != proc_cfg.image_seq_len:
        raise ModelFilesError(
            f"processor image_seq_len {proc_cfg.image_seq_len} != the model's {seq_len} tokens per tile"
        )
    tile = int(model.config.vlm_config.vision_config.image_size)
    if tile != proc_cfg.image.tile_size:
        raise ModelFilesError(
            f"vision image_size {tile} != the processor's tile size {proc_cfg.image.tile_size}"
        )

    fused = dtype == "fp32"  # onnxruntime's CPU MultiHeadAttention is float32-only
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp_name:
        tmp = Path(tmp_name)
        pixel_values, ids, mask, _ = _sample_inputs(model, tile)
        n_img = int((ids == model.vlm.config.image_token_id).sum()) // seq_len
        if single_graph:
            single = build_single_graph_module(model)
            log("exporting model.onnx (single graph)")
            _export(
                single,
                (ids, mask, pixel_values[None].expand(2, 2, -1, -1, -1)[:, :n_img].contiguous()),
                tmp / "model.onnx",
                ["input_ids", "attention_mask", "pixel_values"],
                ["embeddings"],
                {
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "pixel_values": {0: "batch", 1: "tiles"},
                    "embeddings": {0: "batch", 1: "sequence"},
                },
                opset,
            )
            graphs = ["model.onnx"]
        else:
            vision, text = build_graph_modules(model, fused_attention=fused)
            log(f"exporting vision.onnx ({'fused' if fused else 'plain'} attention)")
            _export(
                vision,
                (pixel_values,),
                tmp / "vision.onnx",
                ["pixel_values"],
                ["image_features"],
                {"pixel_values": {0: "tiles"}, "image_features": {0: "tiles"}},
                opset,
                {"com.microsoft": 1} if fused else None,
            )
            with torch.no_grad():
                feats = vision(pixel_values[:n_img])
            log("exporting text.onnx")
            _export(
                text,
                (ids, mask, feats),
                tmp / "text.onnx",
                ["input_ids", "attention_mask", "image_features"],
                ["embeddings"],
                {
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "image_features": {0: "images"},
                    "embeddings": {0: "batch", 1: "sequence"},
                },
                opset,
            )
            graphs = ["vision.onnx", "text.onnx"]
        for g in graphs:
            onnx.checker.check_model(str(tmp / g))
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            for g in graphs:
                log(f"quantizing {g} (dynamic int8 MatMul)")
                q = tmp / f"q-{g}"
                quantize_dynamic(
                    tmp / g, q, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8
                )
                q.replace(tmp / g)
        max_diff: float | None = None
        mean_cos: float | None = None
        if verify:
            max_diff, mean_cos = _verify(
                tmp, graphs, ref_model or model, pixel_values, ids, mask, n_img, single_graph
            )
            log(f"onnxruntime vs PyTorch on a sample: max |Δ| = {max_diff:.3g}, mean cosine {mean_cos:.6f}")
            kind = "int8" if quantize else dtype
            ok = mean_cos >= INT8_MIN_COSINE if quantize else max_diff <= VERIFY_LIMITS[kind]
            if not ok:
                raise RuntimeError(
                    f"the exported {kind} graphs disagree with PyTorch (max |Δ| {max_diff:.3g}, mean cosine "
                    f"{mean_cos:.4f}); nothing was written to {out}"
                )
        for g in graphs:
            (tmp / g).replace(out / g)
    proc_cfg_out = {**proc_cfg.to_dict()}
    (out / "preprocessor_config.json").write_text(json.dumps(proc_cfg.image.to_dict(), indent=2) + "\n")
    (out / "processor_config.json").write_text(json.dumps(proc_cfg_out, indent=2) + "\n")
    shutil.copyfile(src / "config.json", out / "config.json")
    copied = [f for f in TOKENIZER_FILES if (src / f).is_file()]
    for f in copied:
        shutil.copyfile(src / f, out / f)

    vlm_cfg = model.config.vlm_config
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layout": "single" if single_graph else "split",
        # A hub id as given; for a local checkpoint only its directory's name (the path is this machine's).
        "source": resolved.source if resolved.revision is not None else Path(resolved.source).name,
        "revision": resolved.revision,
        "model_type": model.config.model_type,
        "embedding_dim": int(model.config.embedding_dim),
        "text_hidden_size": int(vlm_cfg.text_config.hidden_size),
        "vision_hidden_size": int(vlm_cfg.vision_config.hidden_size),
        "image_seq_len": seq_len,
        "tile_size": tile,
        "image_token_id": int(vlm_cfg.image_token_id),
        "dtype": dtype,
        "quantize": quantize,
        "opset": opset,
        "vision_attention": "com.microsoft.MultiHeadAttention" if fused and not single_graph else "onnx",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "verify_max_abs_diff": max_diff,
        "verify_mean_cosine": mean_cos,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "colweave": _colweave_version(),
        },
        "files": file_entries(
            out,
            [*graphs, "config.json", "preprocessor_config.json", "processor_config.json", *copied],
        ),
    }
    write_manifest(out, manifest)
    log(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return manifest


def _colweave_version() -> str:
    try:
        from colweave import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _verify(
    tmp: Path,
    graphs: list[str],
    model: Any,
    pixel_values: Any,
    ids: Any,
    mask: Any,
    n_img: int,
    single_graph: bool,
) -> tuple[float, float]:
    """(max |Δ|, mean per-token cosine) of the exported graph(s) against the PyTorch model's own forward, on
    the export sample."""
    torch = _require_export_deps()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    with torch.no_grad():
        pv = pixel_values[:n_img]
        # the reference: transformers' own forward on each row, images given to the row that holds them
        outs = []
        for row in range(ids.shape[0]):
            has = bool((ids[row] == model.vlm.config.image_token_id).any())
            kwargs: dict[str, Any] = {"input_ids": ids[row : row + 1], "attention_mask": mask[row : row + 1]}
            if has:
                kwargs["pixel_values"] = pv[None]
            outs.append(model(**kwargs).embeddings.float()[0])
        expected = torch.stack(outs).numpy()
    if single_graph:
        sess = ort.InferenceSession(str(tmp / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        pvs = np.zeros((ids.shape[0], n_img, *pv.shape[1:]), dtype=np.float32)
        pvs[0] = pv.numpy()
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "pixel_values": pvs})[
            0
        ]
    else:
        vis = ort.InferenceSession(str(tmp / "vision.onnx"), opts, providers=["CPUExecutionProvider"])
        txt = ort.InferenceSession(str(tmp / "text.onnx"), opts, providers=["CPUExecutionProvider"])
        feats = vis.run(None, {"pixel_values": pv.numpy()})[0]
        got = txt.run(
            None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "image_features": feats}
        )[0]
    keep = mask.numpy().astype(bool)
    cos = (got[keep] * expected[keep]).sum(axis=-1)
    return float(np.abs(got[keep] - expected[keep]).max()), float(cos.mean())
