"""A small PDF writer for the tests: text pages (Helvetica, real text layers), image-only pages (a Flate
RGB image XObject, no text) and the Standard security handler (RC4, 40-bit, revision 2) with a user
password, so the encrypted file is a real one that PDFium opens with the password and refuses without.

Written from the PDF 1.7 specification (ISO 32000-1 §7.5 file structure, §7.6.3 the Standard security
handler, algorithms 2, 4 and 3 for the key, U and O entries)."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


@dataclass
class TextPage:
    lines: Sequence[str]
    width: float = 595.0  # A4 in points
    height: float = 842.0


@dataclass
class ImagePage:
    """A page that is one picture (a scan): ``pixels`` is (h, w, 3) uint8 as nested bytes rows."""

    rgb: bytes
    px_width: int
    px_height: int
    width: float = 595.0
    height: float = 842.0


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def build_pdf(
    pages: Sequence[TextPage | ImagePage], *, title: str | None = None, user_password: str | None = None
) -> bytes:
    """The bytes of a PDF with these pages (encrypted with RC4-40 when ``user_password`` is given)."""
    objects: list[bytes | None] = [None, None, None]  # 1 catalog, 2 pages, 3 font
    file_id = hashlib.md5(repr((pages, title)).encode()).digest()
    key: bytes | None = None
    encrypt_dict = b""
    if user_password is not None:
        owner = user_password.encode("latin-1")
        user = (user_password.encode("latin-1") + _PAD)[:32]
        o_key = hashlib.md5((owner + _PAD)[:32]).digest()[:5]
        o_entry = _rc4(o_key, user)
        perms = -4  # everything allowed; the password is what is tested
        key = hashlib.md5(user + o_entry + perms.to_bytes(4, "little", signed=True) + file_id).digest()[:5]
        u_entry = _rc4(key, _PAD)
        encrypt_dict = (
            b"<< /Filter /Standard /V 1 /R 2 /Length 40 /O <"
            + o_entry.hex().encode()
            + b"> /U <"
            + u_entry.hex().encode()
            + b"> /P "
            + str(perms).encode()
            + b" >>"
        )

    def crypt(num: int, data: bytes) -> bytes:
        if key is None:
            return data
        obj_key = hashlib.md5(key + num.to_bytes(3, "little") + b"\x00\x00").digest()[: len(key) + 5]
        return _rc4(obj_key, data)

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(num_hint: int, data: bytes, extra: bytes = b"") -> bytes:
        enc = crypt(num_hint, data)
        return b"<< /Length " + str(len(enc)).encode() + extra + b" >>\nstream\n" + enc + b"\nendstream"

    kids = []
    for page in pages:
        if isinstance(page, TextPage):
            ops = [b"BT /F1 14 Tf 16 TL 56 " + str(int(page.height) - 72).encode() + b" Td"]
            for line in page.lines:
                ops.append(b"(" + _escape(line) + b") Tj T*")
            ops.append(b"ET")
            content_num = len(objects) + 1
            add(stream(content_num, b"\n".join(ops)))
            resources = b"<< /Font << /F1 3 0 R >> >>"
        else:
            image_num = len(objects) + 1
            add(
                stream(
                    image_num,
                    zlib.compress(page.rgb),
                    b" /Type /XObject /Subtype /Image /Width "
                    + str(page.px_width).encode()
                    + b" /Height "
                    + str(page.px_height).encode()
                    + b" /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
                )
            )
            draw = f"q {page.width:.0f} 0 0 {page.height:.0f} 0 0 cm /Im1 Do Q".encode()
            content_num = len(objects) + 1
            add(stream(content_num, draw))
            resources = b"<< /XObject << /Im1 " + str(image_num).encode() + b" 0 R >> >>"
        kids.append(
            add(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 "
                + f"{page.width:.0f} {page.height:.0f}".encode()
                + b"] /Resources "
                + resources
                + b" /Contents "
                + str(content_num).encode()
                + b" 0 R >>"
            )
        )
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = (
        b"<< /Type /Pages /Kids ["
        + b" ".join(str(k).encode() + b" 0 R" for k in kids)
        + b"] /Count "
        + str(len(kids)).encode()
        + b" >>"
    )
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    info_num = 0
    if title is not None:
        info_num = add(b"<< /Title (" + _escape(title) + b") >>") if key is None else 0
    encrypt_num = add(encrypt_dict) if key is not None else 0

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        assert body is not None
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    trailer = b"<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R"
    if info_num:
        trailer += b" /Info " + str(info_num).encode() + b" 0 R"
    if encrypt_num:
        trailer += b" /Encrypt " + str(encrypt_num).encode() + b" 0 R"
    trailer += b" /ID [<" + file_id.hex().encode() + b"> <" + file_id.hex().encode() + b">] >>"
    out += b"trailer\n" + trailer + b"\nstartxref\n" + str(xref).encode() + b"\n%%EOF\n"
    return bytes(out)
