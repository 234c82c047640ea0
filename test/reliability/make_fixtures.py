"""Hostile and unusual inputs for the reliability tests, written to build/reliability/.

Images are made from the default model's sample images (PIL, zlib); model fixtures from the synthetic
brightness model (onnx). Each file's expected handling is asserted in test/reliability/*.test.ts.
"""

import io
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import onnx
from onnx import helper
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "models/default/samples"
SYNTHETIC = ROOT / "models/generated/synthetic-brightness"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows) -> bytes:
    """A PNG from an iterator of filtered scanlines (streamed through zlib, so huge images stay small)."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\0" + row) for row in rows) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def images(out: Path) -> None:
    sneaker = Image.open(SAMPLES / "14-sneaker.png").convert("L")
    boot = Image.open(SAMPLES / "18-ankle-boot.png").convert("L")
    (out / "not-an-image.png").write_bytes(b"This is a text file, not a PNG.\n" * 20)
    png = (SAMPLES / "14-sneaker.png").read_bytes()
    (out / "truncated.png").write_bytes(png[: len(png) // 2])
    big = sneaker.resize((280, 280), Image.NEAREST)
    jpeg = io.BytesIO()
    big.save(jpeg, "JPEG", quality=95)
    (out / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 3])
    (out / "empty-0x0.png").write_bytes(raw_png(0, 0, 8, 0, []))
    (out / "tiny-1x1.png").write_bytes(raw_png(1, 1, 8, 0, [b"\x80"]))
    # 20000×20000 gray: 400 MB of pixels, 400 KB of file.
    (out / "huge-20000.png").write_bytes(raw_png(20000, 20000, 8, 0, (bytes(20000) for _ in range(20000))))
    # 16-bit gray with value v·257, which every 16 → 8 bit conversion maps back to v exactly.
    pixels = list(sneaker.getdata())
    rows16 = (b"".join(struct.pack(">H", v * 257) for v in pixels[y * 28:(y + 1) * 28]) for y in range(28))
    (out / "sixteen-bit.png").write_bytes(raw_png(28, 28, 16, 0, rows16))
    # CMYK JPEG (as print workflows make them) and what PIL decodes it to.
    sneaker.convert("RGB").convert("CMYK").save(out / "cmyk.jpg", "JPEG", quality=100)
    Image.open(out / "cmyk.jpg").convert("RGB").save(out / "cmyk-as-rgb.png")
    # Animated GIF: the sneaker, then the boot (a gray palette holds both exactly).
    sneaker.save(out / "animated.gif", save_all=True, append_images=[boot], duration=100, loop=0)
    # Transparent PNG: the sneaker, its left half fully transparent magenta, a column half transparent.
    rgba = Image.new("RGBA", (28, 28))
    for y in range(28):
        for x in range(28):
            v = sneaker.getpixel((x, y))
            rgba.putpixel((x, y), (255, 0, 255, 0) if x < 14 else (v, v, v, 128 if x == 20 else 255))
    rgba.save(out / "transparent.png")
    # EXIF orientation 6 (rotate 90° clockwise to display): stored sideways, shown upright.
    sideways = boot.resize((56, 56), Image.NEAREST).rotate(90, expand=True)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(out / "exif-rotated.jpg", "JPEG", quality=95, exif=exif.tobytes())
    sideways.save(out / "exif-none.jpg", "JPEG", quality=95)
    # The same in PNG, where the orientation is an eXIf chunk.
    sideways.save(out / "exif-rotated.png", "PNG", exif=exif.tobytes())
    sideways.save(out / "exif-none.png", "PNG")
    # SVG with a script that would report itself to the test server if it ever ran.
    (out / "script.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        '<rect width="64" height="64" fill="white"/>'
        '<script>fetch("/__svg-script-ran");document.title="pwned"</script>'
        '<image href="/__svg-image-ran.png" width="1" height="1"/></svg>')


def models(out: Path) -> None:
    manifest = json.loads((SYNTHETIC / "bagnet.json").read_text())
    base = onnx.load(SYNTHETIC / manifest["files"]["fp32"]["url"])

    def folder(folder_name: str, model_bytes: bytes, **changes) -> None:
        target = out / "models" / folder_name
        target.mkdir(parents=True, exist_ok=True)
        (target / "model.onnx").write_bytes(model_bytes)
        data = json.loads(json.dumps(manifest))
        data["files"] = {"fp32": {"url": "model.onnx"}}  # no hash: the runtime itself meets the bytes
        for key, value in changes.items():
            if value is None:
                del data[key]  # a missing field
            else:
                data[key] = value
        (target / "bagnet.json").write_text(json.dumps(data))

    good = base.SerializeToString()
    folder("ok", good)
    folder("html-instead", b"<!doctype html><html><body>Not found</body></html>")
    folder("truncated", good[: len(good) // 2])
    folder("truncated-with-hash", good[: len(good) // 2], files={"fp32": manifest["files"]["fp32"]})
    renamed = onnx.load_from_string(good)
    renamed.graph.input[0].name = "data"
    for node in renamed.graph.node:
        node.input[:] = ["data" if name == "input" else name for name in node.input]
    folder("wrong-input-name", renamed.SerializeToString())
    # Output of rank 2 ([N, classes]: pooled logits instead of the patch map).
    pooled = onnx.load_from_string(good)
    out_name = pooled.graph.output[0].name
    pooled.graph.node[-1].output[:] = [n if n != out_name else "patch_map" for n in pooled.graph.node[-1].output]
    pooled.graph.node.append(helper.make_node("ReduceMean", ["patch_map"], [out_name], axes=[1, 2], keepdims=0))
    pooled.graph.output[0].CopyFrom(helper.make_tensor_value_info(out_name, onnx.TensorProto.FLOAT, ["batch", len(manifest["labels"])]))
    folder("wrong-output-rank", pooled.SerializeToString())
    folder("labels-mismatch", good, labels=manifest["labels"] + ["extra"])
    folder("missing-fields", good, labels=None, patchSize=None)
    folder("xss-labels", good, labels=['<img src=x onerror="window.__xss=1">', "<b>bold</b>"],
           name='<script>window.__xss=1</script>')
    # NaN cannot be written in JSON: a manifest that tries anyway, and one with a string instead.
    target = out / "models" / "nan-mean"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SYNTHETIC / manifest["files"]["fp32"]["url"], target / "model.onnx")
    text = json.dumps({**manifest, "files": {"fp32": {"url": "model.onnx"}}})
    (target / "bagnet.json").write_text(text.replace(json.dumps(manifest["input"]["mean"]), "[NaN, NaN, NaN]"))
    folder("string-std", good, input={**manifest["input"], "std": ["NaN"] * len(manifest["input"]["std"])})


def main() -> None:
    out = ROOT / "build/reliability"
    out.mkdir(parents=True, exist_ok=True)
    images(out)
    models(out)
    print(f"reliability fixtures in {out}")


if __name__ == "__main__":
    sys.exit(main())
