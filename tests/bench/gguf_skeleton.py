"""A GGUF's speed without its bytes: carry a model to a machine it cannot be copied to whole.

``shrink`` keeps the header (metadata, vocabulary, tensor layout) and each tensor's first
blocks; ``grow`` writes a file of the original's size and layout whose every tensor repeats its
first blocks. llama.cpp's time per token depends on tensor shapes and types, not on the values,
so the grown file decodes as fast as the original (its answers are nonsense: benchmarks ban the
end tokens and count tokens). The GPU figures of ``test_bench_batching`` were taken this way:
the default model's 253 MB could not travel to the lent machine (64 MiB a call).

    python -m tests.bench.gguf_skeleton shrink model.gguf skeleton.gguf
    python -m tests.bench.gguf_skeleton grow skeleton.gguf model.gguf
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

KEEP = 1 << 16  # bytes of each tensor kept, rounded down to whole blocks


def shrink(source: Path, target: Path, keep_bytes: int = KEEP) -> None:
    """``target``: an 8-byte manifest length, the manifest (JSON), the header, each tensor's
    first ``keep_bytes`` (whole blocks, at least one) in file order."""
    import gguf

    reader = gguf.GGUFReader(source)
    tensors, kept = [], bytearray()
    for tensor in sorted(reader.tensors, key=lambda t: t.data_offset):
        block = gguf.GGML_QUANT_SIZES[tensor.tensor_type][1]
        keep = min(tensor.n_bytes, max(keep_bytes // block, 1) * block)
        tensors.append(
            {"offset": int(tensor.data_offset), "size": int(tensor.n_bytes), "kept": keep}
        )
        kept += reader.data[tensor.data_offset : tensor.data_offset + keep].tobytes()
    manifest = json.dumps(
        {"header": reader.data_offset, "size": source.stat().st_size, "tensors": tensors}
    ).encode()
    header = reader.data[: reader.data_offset].tobytes()
    target.write_bytes(struct.pack("<Q", len(manifest)) + manifest + header + kept)


def grow(skeleton: Path, target: Path) -> None:
    data = skeleton.read_bytes()
    (length,) = struct.unpack_from("<Q", data)
    manifest = json.loads(data[8 : 8 + length])
    at = 8 + length + manifest["header"]
    with target.open("wb") as out:
        out.write(data[8 + length : at])
        for tensor in manifest["tensors"]:
            first = data[at : at + tensor["kept"]]
            at += tensor["kept"]
            out.seek(tensor["offset"])
            whole, rest = divmod(tensor["size"], len(first))
            out.write(first * whole + first[:rest])
        out.truncate(manifest["size"])


if __name__ == "__main__":
    command, source, target = sys.argv[1:4]
    {"shrink": shrink, "grow": grow}[command](Path(source), Path(target))
