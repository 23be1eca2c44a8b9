"""End-to-end ingest against the encoder's own page rate, at the same precision, in one run.

    python bench/ingest.py                  # 20-page text PDF, the full-size model of bench/encode.py
    python bench/ingest.py --pages 6        # quicker, noisier

A 20-page A4 text PDF is written here; its pages are rendered once exactly as ``colweave ingest`` renders
them (PDFium, longest edge 2048 → 4 x 3 tiles + the global tile) and embedded by ``Encoder.embed_images`` in
one call: the encoder's page rate. Then ``colweave.ingest`` runs on the PDF into a fresh embedded store
with the same Encoder object: scan, hash, render, PNG-encode, embed, durable batched inserts. Target:
ingest ≥ 0.9x the encoder's page rate. The cores are shared with other processes, whose load changes, so the
two measurements alternate in ABBA order (round 1: encoder, ingest; round 2: ingest, encoder; ...) and each
round's ingest is compared with the encoder run next to it: the median of those per-round ratios is the
result (a load change between rounds then hits both halves of a ratio alike); the load average before and
after every half is printed so that the reader can judge.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))

from tests.ingest.pdfgen import TextPage, build_pdf  # noqa: E402

from encode import cache_dir, prepare  # noqa: E402

WORDS = [
    "revenue",
    "quarterly",
    "report",
    "operating",
    "margin",
    "contract",
    "invoice",
    "summary",
    "growth",
    "forecast",
    "segment",
    "customer",
    "pipeline",
    "audit",
    "committee",
    "dividend",
    "liquidity",
]


def text_pdf(n_pages: int) -> bytes:
    pages = []
    for p in range(n_pages):
        lines = [" ".join(WORDS[(p + i + j) % len(WORDS)] for j in range(9)) for i in range(44)]
        pages.append(TextPage([f"Page {p + 1}", *lines]))
    return build_pdf(pages, title="Benchmark report")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--model", default=None, help="model directory (default: bench/encode.py's fp32 export)")
    args = ap.parse_args()
    log = lambda s: print(f"  [{time.strftime('%H:%M:%S')}] {s}", flush=True, file=sys.stderr)  # noqa: E731

    import colweave
    from colweave.ingest.sources import render_pages, scan_file
    from colweave.model import Encoder
    from colweave.model.session import cpu_isa_summary

    model = Path(args.model) if args.model else prepare(log)["fp32"]
    enc = Encoder(model, device="cpu", threads=args.threads, runtime=args.runtime, precision=args.precision)
    work = Path(tempfile.mkdtemp(prefix="colweave-bench-ingest-", dir=cache_dir().parent))
    pdf = work / "report.pdf"
    pdf.write_bytes(text_pdf(args.pages))
    images = [j.image for j in render_pages(scan_file(pdf), range(1, args.pages + 1)) if hasattr(j, "image")]
    assert len(images) == args.pages
    enc.embed_images(images[:1])  # warm-up
    enc_rates, ingest_rates, lines = [], [], []
    cpu: dict[str, list[float]] = {"encoder": [], "ingest": []}

    def encoder_half(r: int) -> None:
        c, t = time.process_time(), time.perf_counter()
        enc.embed_images(images)
        enc_rates.append(args.pages / (time.perf_counter() - t))
        cpu["encoder"].append(time.process_time() - c)

    def ingest_half(r: int) -> None:
        c, t = time.process_time(), time.perf_counter()
        summary = colweave.ingest([pdf], "Bench", data_dir=work / f"data-{r}", encoder=enc)
        assert summary.pages == args.pages, summary
        ingest_rates.append(args.pages / (time.perf_counter() - t))
        cpu["ingest"].append(time.process_time() - c)

    for r in range(args.rounds):
        halves = [("encoder", encoder_half), ("ingest", ingest_half)]
        if r % 2:
            halves.reverse()
        loads = [os.getloadavg()[0]]
        for name, half in halves:
            log(f"round {r + 1}: {name} ({args.pages} pages)")
            half(r)
            loads.append(os.getloadavg()[0])
        lines.append(
            f"  round {r + 1} ({halves[0][0]} first): encoder {enc_rates[-1]:.3f} pages/s, ingest "
            f"{ingest_rates[-1]:.3f} pages/s → {ingest_rates[-1] / enc_rates[-1]:.2f}x; CPU s/page encoder "
            f"{cpu['encoder'][-1] / args.pages:.2f}, ingest {cpu['ingest'][-1] / args.pages:.2f}; load "
            + " → ".join(f"{x:.2f}" for x in loads)
        )
    e, i = statistics.median(enc_rates), statistics.median(ingest_rates)
    ratio = statistics.median(i_ / e_ for i_, e_ in zip(ingest_rates, enc_rates, strict=True))
    cpu_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    print(f"CPU: {cpu_name}, {os.cpu_count()} CPUs; ISA: {cpu_isa_summary()}; {args.threads} threads")
    print(
        f"load average {os.getloadavg()[0]:.2f} (1 min): cores shared with other processes; the ratio is "
        "what this run measures"
    )
    print(
        f"model {model.name}: runtime {enc.runtime}, precision {enc.precision}; {args.pages}-page A4 text PDF"
    )
    print("\n".join(lines))
    print(
        f"  median: Encoder.embed_images {e:.3f} pages/s ({1 / e:.2f} s/page); colweave.ingest {i:.3f} "
        f"pages/s ({1 / i:.2f} s/page); median per-round ratio {ratio:.2f}x (target ≥ 0.9x: "
        f"{'met' if ratio >= 0.9 else 'NOT met'})"
    )
    c_ratio = statistics.median(cpu["encoder"]) / statistics.median(cpu["ingest"])
    print(
        f"  CPU time (less sensitive to the shared cores' load): encoder "
        f"{statistics.median(cpu['encoder']) / args.pages:.2f} s/page, ingest "
        f"{statistics.median(cpu['ingest']) / args.pages:.2f} s/page → ingest at {c_ratio:.2f}x the "
        "encoder's rate per CPU second (rendering, PNG encoding and the store included)"
    )
    for p in sorted(work.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    work.rmdir()


if __name__ == "__main__":
    main()
