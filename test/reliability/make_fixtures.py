"""Hostile and unusual inputs for the reliability tests, written to build/reliability/.

Images are made from the default model's sample images (PIL, zlib); model fixtures from the synthetic
brightness model (onnx). Each file's expected handling is asserted in test/reliability/*.test.ts.
"""

import ctypes
import io
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import onnx
from onnx import helper
from PIL import Image, ImageCms, ImageOps

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
    # Whole files of the formats whose structure the worker checks (src/core/image-integrity.ts).
    big.save(out / "progressive.jpg", "JPEG", quality=90, progressive=True)
    big.save(out / "sneaker.webp", "WEBP", lossless=True)
    big.convert("RGB").save(out / "sneaker.bmp", "BMP")
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
    # Every input 100000×100000 (10 gigapixels): refused at load, never allocated.
    folder("stretch-huge", good, input={**manifest["input"], "resize": {"mode": "stretch", "width": 100000, "height": 100000}})
    # A 4× reduction (128×96 → 32×24): where the browsers' resize filters show (test/reliability/parity.test.ts).
    folder("stretch-32x24", good, input={**manifest["input"], "resize": {"mode": "stretch", "width": 32, "height": 24}})


# ---- Encoders without a Python binding here: libavif 0.11 and libjxl 0.7 through ctypes.

class _AvifRWData(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t)]


def avif_gray(width: int, height: int, row) -> bytes:
    """A gray AVIF, lossless: YUV 4:4:4 full range with neutral chroma, so RGB = Y exactly.

    `row(y)` gives row y's bytes. Offsets from libavif 0.11's avif.h: avifImage {width, height, depth,
    yuvFormat, yuvRange @16, yuvChromaSamplePosition, yuvPlanes[3] @24, yuvRowBytes[3] @48};
    avifEncoder {codecChoice, maxThreads, speed @8, keyframeInterval, timescale (u64), minQuantizer @24,
    maxQuantizer @28}.
    """
    lib = ctypes.CDLL("libavif.so.15")
    lib.avifImageCreate.restype = ctypes.c_void_p
    lib.avifImageCreate.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int]
    lib.avifImageAllocatePlanes.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.avifImageDestroy.argtypes = [ctypes.c_void_p]
    lib.avifEncoderCreate.restype = ctypes.c_void_p
    lib.avifEncoderWrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_AvifRWData)]
    lib.avifEncoderDestroy.argtypes = [ctypes.c_void_p]
    lib.avifRWDataFree.argtypes = [ctypes.POINTER(_AvifRWData)]
    lib.avifVersion.restype = ctypes.c_char_p
    assert lib.avifVersion().startswith(b"0.11."), "the struct offsets below are libavif 0.11's"
    image = lib.avifImageCreate(width, height, 8, 1)  # AVIF_PIXEL_FORMAT_YUV444
    encoder = lib.avifEncoderCreate()
    output = _AvifRWData()
    try:
        ctypes.c_int.from_address(image + 16).value = 1  # AVIF_RANGE_FULL
        assert lib.avifImageAllocatePlanes(image, 1) == 0  # AVIF_PLANES_YUV
        planes = (ctypes.c_void_p * 3).from_address(image + 24)
        strides = (ctypes.c_uint32 * 3).from_address(image + 48)
        neutral = bytes([128]) * width
        for y in range(height):
            ctypes.memmove(planes[0] + y * strides[0], row(y), width)
            ctypes.memmove(planes[1] + y * strides[1], neutral, width)
            ctypes.memmove(planes[2] + y * strides[2], neutral, width)
        ctypes.c_int.from_address(encoder + 8).value = 10  # fastest
        ctypes.c_int.from_address(encoder + 24).value = 0  # quantizer 0 and 0: lossless
        ctypes.c_int.from_address(encoder + 28).value = 0
        assert lib.avifEncoderWrite(encoder, image, ctypes.byref(output)) == 0, "avifEncoderWrite failed"
        return ctypes.string_at(output.data, output.size)
    finally:
        lib.avifRWDataFree(ctypes.byref(output))
        lib.avifEncoderDestroy(encoder)
        lib.avifImageDestroy(image)


class _JxlPixelFormat(ctypes.Structure):
    _fields_ = [("num_channels", ctypes.c_uint32), ("data_type", ctypes.c_int), ("endianness", ctypes.c_int), ("align", ctypes.c_size_t)]


def jxl_rgb(width: int, height: int, rgb: bytes) -> bytes:
    """A JPEG XL (libjxl 0.7's defaults, effort 1). JxlBasicInfo: xsize @4, ysize @8 (the rest from JxlEncoderInitBasicInfo)."""
    lib = ctypes.CDLL("libjxl.so.0.7")
    lib.JxlEncoderCreate.restype = ctypes.c_void_p
    lib.JxlEncoderCreate.argtypes = [ctypes.c_void_p]
    lib.JxlEncoderSetBasicInfo.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.JxlEncoderSetColorEncoding.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.JxlEncoderFrameSettingsCreate.restype = ctypes.c_void_p
    lib.JxlEncoderFrameSettingsCreate.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.JxlEncoderFrameSettingsSetOption.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    lib.JxlEncoderAddImageFrame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.JxlEncoderCloseInput.argtypes = [ctypes.c_void_p]
    lib.JxlEncoderProcessOutput.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t)]
    lib.JxlEncoderDestroy.argtypes = [ctypes.c_void_p]
    encoder = lib.JxlEncoderCreate(None)
    try:
        info = ctypes.create_string_buffer(512)  # larger than JxlBasicInfo
        lib.JxlEncoderInitBasicInfo(info)
        ctypes.c_uint32.from_buffer(info, 4).value = width
        ctypes.c_uint32.from_buffer(info, 8).value = height
        assert lib.JxlEncoderSetBasicInfo(encoder, info) == 0
        color = ctypes.create_string_buffer(512)
        lib.JxlColorEncodingSetToSRGB(color, 0)
        assert lib.JxlEncoderSetColorEncoding(encoder, color) == 0
        settings = lib.JxlEncoderFrameSettingsCreate(encoder, None)
        assert lib.JxlEncoderFrameSettingsSetOption(settings, 0, 1) == 0  # JXL_ENC_FRAME_SETTING_EFFORT
        pixel_format = _JxlPixelFormat(3, 2, 0, 0)  # RGB, JXL_TYPE_UINT8
        assert lib.JxlEncoderAddImageFrame(settings, ctypes.byref(pixel_format), rgb, len(rgb)) == 0
        lib.JxlEncoderCloseInput(encoder)
        out = bytearray()
        chunk = (ctypes.c_uint8 * 65536)()
        while True:
            cursor = ctypes.cast(chunk, ctypes.POINTER(ctypes.c_uint8))
            left = ctypes.c_size_t(len(chunk))
            status = lib.JxlEncoderProcessOutput(encoder, ctypes.byref(cursor), ctypes.byref(left))
            out += bytes(chunk[: len(chunk) - left.value])
            if status != 2:  # JXL_ENC_NEED_MORE_OUTPUT
                break
        assert status == 0, "JxlEncoderProcessOutput failed"
        return bytes(out)
    finally:
        lib.JxlEncoderDestroy(encoder)


def jpeg_with_segments(image: Image.Image, segments: int) -> bytes:
    """A JPEG with `segments` APP11 segments of 65000 bytes spliced after its APP0: the frame header
    lies past the first 256 KB (as with a big ICC profile, XMP or a maker's preview)."""
    data = io.BytesIO()
    image.save(data, "JPEG", quality=95)
    jpeg = data.getvalue()
    assert jpeg[2:4] == b"\xff\xe0"
    after_app0 = 4 + struct.unpack(">H", jpeg[4:6])[0]
    app11 = b"\xff\xeb" + struct.pack(">H", 65002) + b"\0" * 65000
    return jpeg[:after_app0] + app11 * segments + jpeg[after_app0:]


def limit_images(out: Path) -> None:
    """Images whose size only a full header read finds (test/reliability/limits.test.ts)."""
    sneaker = Image.open(SAMPLES / "14-sneaker.png").convert("L")
    sneaker_rows = sneaker.tobytes()
    (out / "uniform-2000.avif").write_bytes(avif_gray(2000, 2000, lambda y: bytes([200]) * 2000))
    (out / "sneaker.avif").write_bytes(avif_gray(28, 28, lambda y: sneaker_rows[y * 28:(y + 1) * 28]))
    (out / "uniform-2000.jxl").write_bytes(jxl_rgb(2000, 2000, bytes([200]) * (2000 * 2000 * 3)))
    (out / "sneaker.jxl").write_bytes(jxl_rgb(28, 28, sneaker.convert("RGB").tobytes()))
    (out / "app-segments-2000.jpg").write_bytes(jpeg_with_segments(Image.new("L", (2000, 2000), 200), 5))
    (out / "app-segments-sneaker.jpg").write_bytes(jpeg_with_segments(sneaker, 5))
    # A 10×10 screen holding a 2000×2000 frame: Chromium decodes the frame whole.
    gif = io.BytesIO()
    Image.new("L", (2000, 2000), 200).save(gif, "GIF")
    frame = bytearray(gif.getvalue())
    frame[6:10] = struct.pack("<HH", 10, 10)
    (out / "small-screen-2000.gif").write_bytes(bytes(frame))
    # Stored 400×100, shown 100×400 (EXIF orientation 6): scaled down at the size shown, not the size stored.
    exif = Image.Exif()
    exif[0x0112] = 6
    wide = Image.new("L", (400, 100), 200)
    wide.save(out / "exif-rotated-400x100.jpg", "JPEG", quality=95, exif=exif.tobytes())
    wide.save(out / "exif-rotated-400x100.png", "PNG", exif=exif.tobytes())


# ---- Decoding parity: the same file decodes to PIL's pixels in every browser (test/reliability/parity.test.ts).

def linear_icc_profile() -> bytes:
    """An RGB profile with sRGB's primaries and linear (gamma 1.0) curves: a colour-managed decoder
    would change every mid-tone; with colour conversion off, the stored values are the pixels."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    linear = b"curv" + bytes(4) + struct.pack(">I", 0)  # no entries: the identity curve
    count = struct.unpack(">I", icc[128:132])[0]
    for i in range(count):
        entry = 132 + 12 * i
        signature, offset, size = struct.unpack(">4sII", icc[entry:entry + 12])
        if signature in (b"rTRC", b"gTRC", b"bTRC"):
            icc[offset:offset + len(linear)] = linear
            icc[offset + len(linear):offset + size] = bytes(size - len(linear))
            icc[entry + 8:entry + 12] = struct.pack(">I", len(linear))
    icc[84:100] = bytes(16)  # no profile ID (its MD5) after the edit
    return bytes(icc)


def colour_test_image(width: int, height: int) -> Image.Image:
    """Gradients in each channel, a hue wheel of mid-tones and a little noise: every value range."""
    import random
    rng = random.Random(17)
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 255) // (width - 1), (y * 255) // (height - 1), (x * y + rng.randrange(48)) % 256)
                   for y in range(height) for x in range(width)])
    return image


def parity_images(out: Path) -> None:
    parity = out / "parity"
    parity.mkdir(parents=True, exist_ok=True)
    rgb = colour_test_image(64, 48)
    icc = linear_icc_profile()
    files = {}

    def save(name: str, image: Image.Image, fmt: str, **options) -> None:
        image.save(parity / name, fmt, **options)
        files[name] = None

    def png_with_chunk(name: str, kind: bytes, data: bytes) -> None:
        plain = io.BytesIO()
        rgb.save(plain, "PNG")
        raw = plain.getvalue()
        at = 8 + 25  # after the signature and IHDR
        (parity / name).write_bytes(raw[:at] + png_chunk(kind, data) + raw[at:])
        files[name] = None

    save("rgb.png", rgb, "PNG")
    png_with_chunk("gama-1.0.png", b"gAMA", struct.pack(">I", 100000))  # gamma 1.0: mid-tones would brighten
    png_with_chunk("iccp-linear.png", b"iCCP", b"linear\0\0" + zlib.compress(icc))
    save("palette.png", rgb.quantize(64), "PNG")
    save("gray.png", rgb.convert("L"), "PNG")
    alpha = Image.new("L", rgb.size)
    alpha.putdata([64 + (x * 191) // 63 for y in range(48) for x in range(64)])
    save("rgba.png", Image.merge("RGBA", (*rgb.split(), alpha)), "PNG")
    save("gray-alpha.png", Image.merge("LA", (rgb.convert("L"), alpha)), "PNG")
    save("sixteen-bit-rgb.png", rgb, "PNG")  # rewritten below as 16 bits per channel
    rows16 = (b"".join(struct.pack(">HHH", *(c * 257 for c in rgb.getpixel((x, y)))) for x in range(64)) for y in range(48))
    (parity / "sixteen-bit-rgb.png").write_bytes(raw_png(64, 48, 16, 2, rows16))
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif-6.png", rgb, "PNG", exif=exif.tobytes())
    save("baseline-444.jpg", rgb, "JPEG", quality=92, subsampling=0)
    save("baseline-420.jpg", rgb, "JPEG", quality=92, subsampling=2)
    save("progressive.jpg", rgb, "JPEG", quality=92, progressive=True, subsampling=0)
    save("icc-linear.jpg", rgb, "JPEG", quality=92, subsampling=0, icc_profile=icc)
    save("exif-6.jpg", rgb, "JPEG", quality=92, subsampling=0, exif=exif.tobytes())
    save("gray.jpg", rgb.convert("L"), "JPEG", quality=92)
    save("lossless.webp", rgb, "WEBP", lossless=True)
    save("lossy.webp", rgb, "WEBP", quality=90)
    save("palette.gif", rgb.quantize(64), "GIF")
    save("rgb.bmp", rgb, "BMP")
    # The input of the resize checks.
    big = colour_test_image(128, 96)
    save("big-128x96.png", big, "PNG")

    # PIL's pixels: orientation applied, transparency composited on the model's background (white).
    index = {}
    for name in files:
        image = ImageOps.exif_transpose(Image.open(parity / name))
        rgba = image.convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        (parity / f"{name}.rgb").write_bytes(flat.tobytes())
        index[name] = {"width": flat.width, "height": flat.height}
    # PIL's BILINEAR (the library's filter, src/core/resample.ts): a 4× reduction, a fractional crop box
    # reduced, and an enlargement.
    for name, size, box in (("32x24", (32, 24), None), ("box-32x24", (32, 24), (10.5, 7.25, 90.8, 67.45)),
                            ("box-200x150", (200, 150), (3.0, 1.5, 123.0, 91.5))):
        reduced = big.resize(size, Image.Resampling.BILINEAR, box=box)
        (parity / f"big-128x96.png.bilinear-{name}.rgb").write_bytes(reduced.tobytes())
    (parity / "index.json").write_text(json.dumps(index, indent=1))


def main() -> None:
    out = ROOT / "build/reliability"
    out.mkdir(parents=True, exist_ok=True)
    images(out)
    limit_images(out)
    models(out)
    parity_images(out)
    print(f"reliability fixtures in {out}")


if __name__ == "__main__":
    sys.exit(main())
