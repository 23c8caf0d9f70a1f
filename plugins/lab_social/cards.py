"""Card images: the page's title over the site's brand, 1200x630 PNG, drawn
in Noto Sans, shipped in fonts/ (its README says where it comes from), so that
every machine draws the same pixels with nothing installed but PyPI packages.
Noto Sans covers Latin (Welsh ŵ ŷ included), Greek and Cyrillic;
characters it lacks (other scripts, emoji) are left out of the picture, never
drawn as empty boxes, and `CardSpec.left_out` names them so the build can say so.

Pure drawing functions return Pillow images; `cached_png` is the one place
that touches the disk: it draws only when no PNG with the same inputs is in the
cache, so an unchanged build draws nothing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import PIL
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont, features

# Bump when the drawing changes, so that every cached image is drawn again.
# (A new font file needs no bump: its digest is part of every card's key.)
CARD_VERSION = "2"
FONT_DIR = Path(__file__).parent / "fonts"
# The title in bold, everything else regular. Both faces have the same
# character map; a character is drawn only if every face has it.
FONTS = {
    "regular": FONT_DIR / "NotoSans-Regular.ttf",
    "bold": FONT_DIR / "NotoSans-Bold.ttf",
}
CARD_SIZE = (1200, 630)
LOGO_SIZE = 512
# Title sizes to try, largest first, and the most lines a title may take.
TITLE_SIZES = (76, 68, 60, 54, 48, 44)
TITLE_MAX_LINES = 4
MARGIN = 80
ELLIPSIS = "…"
# Drawn at this many times the size, then scaled down: smooth circle edges.
SUPERSAMPLE = 4


class CardError(RuntimeError):
    """A card cannot be drawn on this machine (Pillow without FreeType)."""


@dataclass(frozen=True)
class Brand:
    background: str  # "#00585e"
    foreground: str  # text and the mark
    accent: str  # the label, the mark's centre and the bar at the foot


@dataclass(frozen=True)
class CardSpec:
    """Everything a card's pixels depend on: its cache key is a hash of these."""

    title: str
    site_name: str
    brand: Brand
    label: str = ""  # a short line above the title: "Update", "Challenge"
    width: int = CARD_SIZE[0]
    height: int = CARD_SIZE[1]

    def key(self) -> str:
        # The fonts' digest, so that a new font (or a fixed one) redraws
        # every card: the old pictures may show boxes the new one fills.
        return image_key("card", asdict(self) | {"fonts": fonts_digest()})

    def left_out(self) -> list[str]:
        """The characters (whole emoji sequences) of its texts that no card
        font has, each once, in order: the card leaves them out."""
        found: list[str] = []
        for text in (self.site_name, self.label, self.title):
            found += [c for c in card_text(text)[1] if c not in found]
        return found


@dataclass(frozen=True)
class LogoSpec:
    brand: Brand
    size: int = LOGO_SIZE

    def key(self) -> str:
        return image_key("logo", asdict(self))


def image_key(kind: str, inputs: dict) -> str:
    """A stable hash of the inputs, the drawing's version and Pillow's version
    (its FreeType rasteriser and its PNG encoder shape the bytes)."""
    payload = json.dumps(
        {"kind": kind, "inputs": inputs, "version": CARD_VERSION,
         "pillow": PIL.__version__},
        sort_keys=True, ensure_ascii=False,
    )  # fmt: skip
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- colour


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """ "#00585e" -> (0, 88, 94). Raises ValueError for anything else."""
    value = colour.strip().removeprefix("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise ValueError(f"{colour!r} is not a colour such as #00585e")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def contrast_ratio(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two colours, from 1 to 21."""

    def luminance(colour: str) -> float:
        channels = []
        for channel in hex_rgb(colour):
            c = channel / 255
            channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
        r, g, b = channels
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# -- fonts and the characters they have


def font(size: int, weight: str = "regular") -> ImageFont.FreeTypeFont:
    """The card font's `weight` face ("regular" or "bold") at `size` pixels.
    Loading one takes microseconds, so each drawing loads its own: a FreeType
    face must not be shared by the threads that draw cards."""
    if not features.check("freetype2"):
        raise CardError("Pillow was built without FreeType: cannot draw card text")
    # Pillow's basic layout, not Raqm even where it is installed: every
    # machine then measures and draws the same pixels, and Latin, Greek and
    # Cyrillic need no shaping (the cost: no pair kerning, which Noto Sans
    # keeps in GPOS, read by Raqm only).
    return ImageFont.truetype(
        os.fspath(FONTS[weight]), size, layout_engine=ImageFont.Layout.BASIC
    )


def fonts_digest() -> str:
    """A SHA-256 of every card font file, for the cards' cache keys."""
    return _fonts_digest(tuple(_file_state(path) for path in FONTS.values()))


def font_coverage() -> frozenset[int]:
    """The code points every card font maps to a glyph (from each font's own
    character map, read with fontTools)."""
    return _coverage(tuple(_file_state(path) for path in FONTS.values()))


def _file_state(path: Path) -> tuple[str, int, int]:
    # The path with its size and time stamp: the cached answers below are
    # worked out again when a font file is replaced, even in a long-lived
    # process (make devserver).
    stat = path.stat()
    return (os.fspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _fonts_digest(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _coverage(files: tuple[tuple[str, int, int], ...]) -> frozenset[int]:
    maps = []
    for name, _, _ in files:
        with TTFont(name, lazy=True) as face:
            maps.append(set(face.getBestCmap()))
    return frozenset(set.intersection(*maps))


ZWJ = "\u200d"
EMOJI_PRESENTATION = "\ufe0f"  # "draw the character before me as an emoji"
TEXT_PRESENTATION = "\ufe0e"


def _attaches(char: str) -> bool:
    """Whether `char` belongs to the character before it: a combining mark or
    variation selector, a zero-width joiner, an emoji skin-tone modifier, an
    emoji tag (subdivision flags such as Wales's)."""
    point = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me")
        or char == ZWJ
        or 0x1F3FB <= point <= 0x1F3FF
        or 0xE0020 <= point <= 0xE007F
    )


def _regional(char: str) -> bool:
    # Two regional indicator letters make one flag: GB is the UK's.
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def clusters(text: str) -> list[str]:
    """`text` (NFC-composed) cut into what a reader sees as one character: a
    letter with its combining marks, an emoji with its modifiers and the
    emoji it is joined to ("\U0001f469\u200d\u2695\ufe0f", a health worker),
    a flag's two letters."""
    found: list[str] = []
    joined = False
    for char in unicodedata.normalize("NFC", text):
        flag = (
            found and _regional(char) and len(found[-1]) == 1
            and _regional(found[-1])
        )  # fmt: skip
        if found and (joined or flag or _attaches(char)):
            found[-1] += char
        else:
            found.append(char)
        joined = char == ZWJ
    return found


def card_text(text: str) -> tuple[str, list[str]]:
    """What the card draws of `text`, and what it leaves out. NFC first, so a
    letter and a combining accent become the accented letter the font has.
    A cluster is drawn only if every one of its characters is in every card
    font; an emoji cluster (a presentation selector, or characters the fonts
    lack) is left out whole, never in part. Whitespace becomes plain spaces,
    one between words; invisible format characters (soft hyphens, direction
    marks) are dropped without a word: they draw nothing anyway."""
    covered = font_coverage()
    kept: list[str] = []
    left_out: list[str] = []
    for cluster in clusters(text):
        base = cluster[0]
        if base.isspace():
            kept.append(" ")
        elif unicodedata.category(base) in ("Cc", "Cf") and len(cluster) == 1:
            continue
        elif EMOJI_PRESENTATION not in cluster and all(
            ord(c) in covered for c in cluster.replace(TEXT_PRESENTATION, "")
        ):
            kept.append(cluster.replace(TEXT_PRESENTATION, ""))
        else:
            left_out.append(cluster)
            kept.append(" ")  # a left-out emoji between words keeps them apart
    return " ".join("".join(kept).split()), left_out


# -- text


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` in lines no wider than `width` pixels, broken between words; a
    word wider than a line is broken between letters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if face.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while face.getlength(word) > width:
            cut = len(word)
            while cut > 1 and face.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def fit_title(
    text: str,
    width: int,
    height: int,
    sizes=TITLE_SIZES,
    max_lines=TITLE_MAX_LINES,
    *,
    weight: str = "bold",
) -> tuple[int, list[str]]:
    """The largest size at which `text` fits in `max_lines` lines within the box;
    at the smallest size, the lines that fit, the last one ending in an ellipsis.
    `text` is drawable already (`card_text`)."""
    if not text:
        return sizes[0], []
    for size in sizes:
        lines = wrap(text, font(size, weight), width)
        if len(lines) <= max_lines and len(lines) * line_height(size) <= height:
            return size, lines
    size = sizes[-1]
    face = font(size, weight)
    room = min(max_lines, max(1, height // line_height(size)))
    lines = wrap(text, face, width)[:room]
    last = lines[-1]
    while last and face.getlength(last + ELLIPSIS) > width:
        last = last[:-1]
    lines[-1] = last.rstrip(" ,;:.-\u2013\u2014") + ELLIPSIS
    return size, lines


def line_height(size: int) -> int:
    return round(size * 1.22)


# -- drawing


def draw_mark(size: int, brand: Brand, tile: bool = False) -> Image.Image:
    """The Lab's mark (theme/static/images/logo.svg: three people around a
    shared question), `size` pixels square, smooth-edged. With `tile`, on a
    square of the brand colour; otherwise on a transparent ground."""
    big = size * SUPERSAMPLE
    ground = (*hex_rgb(brand.background), 255) if tile else (0, 0, 0, 0)
    image = Image.new("RGBA", (big, big), ground)
    draw = ImageDraw.Draw(image)
    unit = big / 40  # logo.svg's viewBox is 40 units wide
    if tile:
        # The mark sits inside the tile with room around it.
        unit = big / 56
        offset = 8 * unit
    else:
        offset = 0.0
    fg = (*hex_rgb(brand.foreground), 255)
    accent = (*hex_rgb(brand.accent), 255)

    def circle(cx: float, cy: float, r: float, **kwargs) -> None:
        x, y = offset + cx * unit, offset + cy * unit
        draw.ellipse((x - r * unit, y - r * unit, x + r * unit, y + r * unit), **kwargs)

    circle(20, 20, 19.5, outline=fg, width=round(3 * unit))
    for cx, cy in ((20, 11.5), (12.5, 24.5), (27.5, 24.5)):
        circle(cx, cy, 4, fill=fg)
    circle(20, 20, 2.5, fill=accent)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def draw_card(spec: CardSpec) -> Image.Image:
    """The card: the mark and the site's name at the top, the label and the
    title (as large as fits) below, an accent bar at the foot."""
    background = hex_rgb(spec.brand.background)
    foreground = hex_rgb(spec.brand.foreground)
    accent = hex_rgb(spec.brand.accent)
    image = Image.new("RGB", (spec.width, spec.height), background)
    draw = ImageDraw.Draw(image)
    text_width = spec.width - 2 * MARGIN

    mark_size = 72
    mark = draw_mark(mark_size, spec.brand)
    image.paste(mark, (MARGIN, 64), mark)
    site_face = font(36)
    draw.text(
        (MARGIN + mark_size + 24, 64 + mark_size // 2),
        card_text(spec.site_name)[0],
        font=site_face,
        fill=foreground,
        anchor="lm",
    )

    bar = 16
    top = 64 + mark_size + 56
    bottom = spec.height - bar - 56
    label = card_text(spec.label)[0]
    if label:
        label_size = 34
        draw.text((MARGIN, top), label, font=font(label_size), fill=accent)
        top += line_height(label_size) + 12
    size, lines = fit_title(card_text(spec.title)[0], text_width, bottom - top)
    face = font(size, "bold")
    for index, line in enumerate(lines):
        draw.text((MARGIN, top + index * line_height(size)), line, font=face,
                  fill=foreground)  # fmt: skip
    draw.rectangle((0, spec.height - bar, spec.width, spec.height), fill=accent)
    return image


def draw_logo(spec: LogoSpec) -> Image.Image:
    """The mark on a tile of the brand colour, for the publisher's logo."""
    return draw_mark(spec.size, spec.brand, tile=True).convert("RGB")


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no time stamp or other metadata: the same pixels give the
    same bytes, so rebuilds are byte-identical."""
    buffer = io.BytesIO()
    # Not optimize=True: it tries every filter and costs five times as long
    # (about 100 ms a card against 20 ms) for files a few KB smaller.
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def cached_png(
    key: str, draw: Callable[[], Image.Image], cache_dir: Path
) -> tuple[Path, bool]:
    """The cached PNG for `key`, drawn with `draw` only when it is not there.
    Returns its path and whether it was drawn. Writes through a temporary file
    and a rename, so that two builds at once never read half a file."""
    path = Path(cache_dir) / f"{key}.png"
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    data = png_bytes(draw())
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path, True
