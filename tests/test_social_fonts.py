"""Cards in every reader's alphabet (issue 14): the card font covers full
Latin (Welsh included), Greek and Cyrillic; every character handed to Pillow
has a glyph in the font it is drawn with, checked through that font's own
character map (fontTools), through the drawing function and through a real
fixture-site build; characters no card font has (other scripts, emoji) are
left out and named in a warning, never drawn as boxes; a new font redraws
every card.

`PYTHONPATH=plugins .venv/bin/python tests/test_social_fonts.py` draws the
README's picture (docs/images/card-welsh-greek.png) again."""

# The Greek and Cyrillic letters that look like Latin ones, and the typographic
# quotes and dashes, are what this module tests: ruff's confusables check
# (RUF001, RUF003) is off here on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import unicodedata
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, SAMPLE_SITEURL_DEV, build, parse_html
from fontTools.ttLib import TTFont
from pelican import signals
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from lab_social import cards
from lab_social.cards import (
    MARGIN,
    Brand,
    CardSpec,
    LogoSpec,
    card_text,
    draw_card,
    fit_title,
)
from lab_social.generator import SocialGenerator, code_points

BRAND = Brand(background="#00585e", foreground="#ffffff", accent="#ffdd00")
WELSH = "Siân, Zoë and Ŵyn: gofal iechyd — … résumé"
WELSH_CAPITALS = "ŴYR ŶD ÂÊÎÔÛ ŵyr ŷd âêîôû ẁẃẅ ỳýÿ: ‘Pa le?’ – “Dyma!”"
GREEK = "Υγεία για όλους: ψυχική υγεία, ΆΈΉΊΌΎΏ ϊΐϋΰ"
CYRILLIC = "Здоровье для всех: Ёё Її Єє Ґґ Ўў Ђђ Љљ"
README_TITLE = "Siân, Zoë and Ŵyn: gofal iechyd — Υγεία για όλους, résumé"
README_PICTURE = ROOT / "docs" / "images" / "card-welsh-greek.png"
# Emoji (a ZWJ sequence, a keycap whose "1" the font has, a flag), Chinese,
# Arabic, Devanagari: none of them in the card font.
MIXED = "Peer support 🎉 for everyone 👩‍⚕️ 1️⃣ 🇬🇧 健康 مرحبا नमस्ते, Siân"
MIXED_LEFT_OUT = ["🎉", "👩\u200d⚕️", "1️⃣", "🇬🇧", "健", "康"]
MIXED_LEFT_OUT += [*"مرحبا", "न", "म", "स्", "ते"]


@functools.cache
def glyph_map(path: str) -> dict[int, str]:
    """The character map of the font file Pillow was given, read on its own
    with fontTools: code point -> glyph name."""
    with TTFont(path) as face:
        return dict(face.getBestCmap())


def missing_glyphs(text: str, font_path: str) -> list[str]:
    """The characters of `text` that the font at `font_path` has no glyph
    for (or maps to .notdef, the box)."""
    found = glyph_map(font_path)
    return [c for c in text if found.get(ord(c), ".notdef") == ".notdef"]


@pytest.fixture
def drawn_text(monkeypatch) -> list[tuple[int, str, str, int]]:
    """Every text handed to Pillow's ImageDraw.text while the test runs:
    (thread, text, font file, size). Threads tell cards apart when a build
    draws several at once."""
    calls: list[tuple[int, str, str, int]] = []
    real = ImageDraw.ImageDraw.text

    def text(self, xy, text, *args, **kwargs):
        face = kwargs.get("font")
        calls.append((threading.get_ident(), text, face.path, face.size))
        return real(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    return calls


def titles_drawn(calls) -> list[str]:
    """The title of each card drawn, from the recorded calls: a card's
    calls run on one thread, the site's name (36 px) first, its title in bold."""
    titles: list[list[str]] = []
    by_thread: dict[int, list[str]] = {}
    for thread, text, path, size in calls:
        if size == 36 and "Regular" in path:  # the site's name: a new card
            by_thread[thread] = []
            titles.append(by_thread[thread])
        elif "Bold" in path:
            by_thread[thread].append(text)
    return [" ".join(lines) for lines in titles]


@pytest.fixture
def generators() -> list[SocialGenerator]:
    """The SocialGenerator of each build the test runs. Pelican keeps weak
    references to receivers: `keep` lives as long as the test."""
    found: list[SocialGenerator] = []

    def keep(all_generators):
        found.extend(g for g in all_generators if isinstance(g, SocialGenerator))

    signals.all_generators_finalized.connect(keep)
    yield found
    signals.all_generators_finalized.disconnect(keep)


# -- the font


def assigned(first: int, last: int) -> list[int]:
    return [p for p in range(first, last + 1) if unicodedata.category(chr(p)) != "Cn"]


# Whole Unicode blocks, every assigned character: the Greek block without its
# Coptic letters (U+03E2-03EF), which are not Greek.
BLOCKS = {
    "Basic Latin": assigned(0x20, 0x7E),
    "Latin-1 Supplement": assigned(0xA0, 0xFF),
    "Latin Extended-A": assigned(0x100, 0x17F),
    "Latin Extended-B": assigned(0x180, 0x24F),
    "Latin Extended Additional": assigned(0x1E00, 0x1EFF),
    "Greek": [p for p in assigned(0x370, 0x3FF) if not 0x3E2 <= p <= 0x3EF],
    "Greek Extended": assigned(0x1F00, 0x1FFF),
    "Cyrillic": assigned(0x400, 0x4FF),
    "Cyrillic Supplement": assigned(0x500, 0x52F),
    "General Punctuation (dashes, quotes, ellipsis)": assigned(0x2010, 0x2027),
}


@pytest.mark.parametrize("weight", sorted(cards.FONTS))
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_the_card_font_covers_full_latin_greek_and_cyrillic(weight, block):
    path = os.fspath(cards.FONTS[weight])
    text = "".join(chr(p) for p in BLOCKS[block])
    assert missing_glyphs(text, path) == []
    assert set(BLOCKS[block]) <= cards.font_coverage()


def test_the_font_ships_with_its_licence_and_its_source():
    folder = cards.FONT_DIR
    assert "SIL OPEN FONT LICENSE" in (folder / "OFL.txt").read_text("utf-8")
    readme = (folder / "README.md").read_text("utf-8")
    for path in cards.FONTS.values():
        assert path.parent == folder and path.name in readme
        with TTFont(path) as face:
            licence = face["name"].getDebugName(13)
            version = face["name"].getDebugName(5)
        assert "SIL Open Font License, Version 1.1" in licence
        assert version.split(";")[0].removeprefix("Version ") in readme


# -- what is handed to Pillow


@pytest.mark.parametrize("title", [WELSH, WELSH_CAPITALS, GREEK, CYRILLIC])
def test_every_character_drawn_has_a_glyph_and_none_is_lost(title, drawn_text):
    spec = CardSpec(title=title, site_name="Y Lab · Το Lab", brand=BRAND,
                    label="Diweddariad")  # fmt: skip
    draw_card(spec)
    assert drawn_text, "the card drew no text"
    for _, text, path, _ in drawn_text:
        assert missing_glyphs(text, path) == [], (text, path)
    # Nothing is left out: the lines drawn are the whole title.
    assert titles_drawn(drawn_text) == [title]
    assert spec.left_out() == []
    assert [t for _, t, _, _ in drawn_text[:2]] == ["Y Lab · Το Lab", "Diweddariad"]


def test_emoji_and_other_scripts_are_left_out_whole_never_drawn(drawn_text):
    spec = CardSpec(title=MIXED, site_name="The Lab 🏥", brand=BRAND)
    draw_card(spec)
    for _, text, path, _ in drawn_text:
        assert missing_glyphs(text, path) == [], (text, path)
    assert [t for _, t, _, _ in drawn_text[:1]] == ["The Lab"]
    assert titles_drawn(drawn_text) == ["Peer support for everyone , Siân"]
    assert spec.left_out() == ["🏥", *MIXED_LEFT_OUT]
    # The keycap's "1" is in the font, but the keycap is one emoji: no stray 1.
    assert "1" not in "".join(t for _, t, _, _ in drawn_text)


@pytest.mark.parametrize(
    ("text", "drawn", "left_out"),
    [
        # A letter and a combining accent: the composed letter the font has.
        ("Sia\u0302n a\u0300 Zoe\u0308", "Siân à Zoë", []),
        # Soft hyphen, direction marks, zero-width space: invisible, dropped.
        ("gwa\u00adsanaeth\u200e \u200bиз", "gwasanaeth из", []),
        # Any whitespace is one plain space; none at the ends.
        ("\u00a0Siân\u2009\u2003a\tZoë\n", "Siân a Zoë", []),
        # A text-presentation selector asks for the character as text.
        ("Lab\u00a9\ufe0e", "Lab\u00a9", []),
        # ... and an emoji-presentation one for it as an emoji: left out whole.
        ("Lab\u00a9\ufe0f", "Lab", ["\u00a9\ufe0f"]),
        # An emoji-presentation selector after a character the font has.
        ("Ticks \u2714\ufe0f", "Ticks", ["\u2714\ufe0f"]),
        ("Wales 🏴󠁧󠁢󠁷󠁬󠁳󠁿!", "Wales !", ["🏴󠁧󠁢󠁷󠁬󠁳󠁿"]),
        ("👋🏽hello", "hello", ["👋🏽"]),
        ("健康", "", ["健", "康"]),
    ],
)
def test_card_text(text, drawn, left_out):
    assert card_text(text) == (drawn, left_out)


def test_a_title_with_nothing_drawable_leaves_the_title_out(drawn_text):
    image = draw_card(CardSpec(title="健康", site_name="The Lab", brand=BRAND))
    assert [t for _, t, _, _ in drawn_text] == ["The Lab"]
    assert image.size == (1200, 630)


def test_long_welsh_and_greek_titles_wrap_within_the_margins():
    width = 1200 - 2 * MARGIN
    title = " ".join([WELSH, GREEK, CYRILLIC] * 2)
    size, lines = fit_title(title, width, 330)
    face = cards.font(size, "bold")
    assert all(face.getlength(line) <= width for line in lines)
    assert lines[-1].endswith("…")
    short = WELSH
    size, lines = fit_title(short, width, 330)
    assert " ".join(lines) == short and size == cards.TITLE_SIZES[0]


# -- pixels: a drawn letter is a letter, not the box


def shape(face: ImageFont.FreeTypeFont, char: str) -> bytes:
    image = PILImage.new("L", (160, 160), 0)
    ImageDraw.Draw(image).text((20, 20), char, font=face, fill=255)
    return image.tobytes()


def test_each_character_has_its_own_shape_not_the_box():
    box = "\ue000"  # private use: in no font, so drawn as .notdef
    sample = sorted(set(WELSH_CAPITALS + GREEK + CYRILLIC + WELSH) - {" "})
    accented = [c for c in sample if len(unicodedata.normalize("NFD", c)) > 1]
    assert len(accented) >= 30
    for weight in cards.FONTS:
        face = cards.font(96, weight)
        shapes = {c: shape(face, c) for c in sample}
        assert shape(face, box) not in shapes.values()
        assert len(set(shapes.values())) >= 80  # (Latin A and Greek Α match)
        for char in accented:  # ŵ is not w: its accent is drawn
            base = unicodedata.normalize("NFD", char)[0]
            assert shapes[char] != shape(face, base), char
    # The check can fail: Pillow's old bundled font draws these as its box.
    old = ImageFont.load_default(size=96)
    assert shape(old, "ŵ") == shape(old, "Ж") == shape(old, box)


# -- the cache key follows the font


def test_a_changed_font_file_gives_every_card_a_new_key(tmp_path, monkeypatch):
    spec = CardSpec(title=WELSH, site_name="The Lab", brand=BRAND)
    before, logo = spec.key(), LogoSpec(BRAND).key()
    copies = {}
    for weight, path in cards.FONTS.items():
        copies[weight] = tmp_path / path.name
        shutil.copyfile(path, copies[weight])
    monkeypatch.setattr(cards, "FONTS", copies)
    assert spec.key() == before  # the same bytes elsewhere: the same key
    with copies["bold"].open("ab") as out:
        out.write(b"\0")  # a changed file (same name, same folder)
    assert spec.key() != before
    assert LogoSpec(BRAND).key() == logo  # the logo draws no text


# -- through a real build


def post(folder: Path, slug: str, title: str) -> None:
    (folder / f"2025-06-01-{slug}.md").write_text(
        f"---\ntitle: {title}\nslug: {slug}\ndate: 2025-06-01T10:00:00+01:00\n"
        "authors: [ada-lane]\ncategory: Research\nsummary: In many alphabets.\n"
        "---\nText.\n",
        encoding="utf-8",
    )


@pytest.fixture
def alphabet_site(tmp_path) -> Path:
    site = tmp_path / "content"
    shutil.copytree(FIXTURES / "site", site)
    post(site / "posts", "cymraeg", f'"{README_TITLE}"')
    post(site / "posts", "kyrillitsa", f'"{CYRILLIC}"')
    post(site / "posts", "emoji", f'"{MIXED}"')
    return site


def og(output: Path, slug: str) -> dict[str, str]:
    page = parse_html(output / "updates" / "2025" / slug / "index.html")
    return {
        m.get("property"): m.get("content")
        for m in page.iter("meta")
        if m.get("property")
    }


def test_a_built_site_draws_every_alphabet_and_names_what_it_leaves_out(
    tmp_path, alphabet_site, drawn_text, generators, caplog
):
    output, cache = tmp_path / "output", tmp_path / "cache"
    # One process renders the pages, so that every card is drawn (and every
    # call to Pillow recorded) here.
    caplog.set_level(logging.INFO, logger="lab_social.generator")
    log = build("pelicanconf.py", output, path=alphabet_site,
                SITEURL=SAMPLE_SITEURL_DEV, LAB_SOCIAL_CACHE_PATH=str(cache),
                LAB_WRITER_PROCESSES=1)  # fmt: skip
    (generator,) = generators
    # Told, not warned: a title with an emoji is not a fault to fix.
    assert log.messages() == []
    told = [
        r.getMessage()
        for r in caplog.records
        if r.name == "lab_social.generator" and "leaves out" in r.getMessage()
    ]
    assert told == [
        "lab_social: posts/2025-06-01-emoji.md: the "
        "card image leaves out "
        + ", ".join(f"{c!r} ({code_points(c)})" for c in MIXED_LEFT_OUT)
        + ", which its font (Noto Sans: Latin, Greek, Cyrillic) does not have; "
        "the page and its shared title keep them"
    ]
    assert "'🇬🇧' (U+1F1EC U+1F1E7)" in told[0]
    assert len(generator.drawn) >= 5
    for _, text, path, _ in drawn_text:
        assert missing_glyphs(text, path) == [], (text, path)
    titles = titles_drawn(drawn_text)
    assert README_TITLE in titles and CYRILLIC in titles
    assert "Peer support for everyone , Siân" in titles
    # The shared title keeps every character; only the picture leaves out.
    assert og(output, "emoji")["og:title"] == MIXED
    assert og(output, "cymraeg")["og:title"] == README_TITLE
    image = og(output, "cymraeg")["og:image"]
    expected = draw_card(
        CardSpec(title=README_TITLE, site_name=generator.settings["SITENAME"],
                 brand=generator.brand, label="Update")
    )  # fmt: skip
    with PILImage.open(output / image.removeprefix(SAMPLE_SITEURL_DEV + "/")) as card:
        assert card.convert("RGB").tobytes() == expected.tobytes()


def test_a_new_font_redraws_every_card_of_a_built_site(
    tmp_path, alphabet_site, generators, monkeypatch
):
    cache = tmp_path / "cache"

    def run(name: str) -> SocialGenerator:
        build("pelicanconf.py", tmp_path / name, path=alphabet_site,
              SITEURL=SAMPLE_SITEURL_DEV, LAB_SOCIAL_CACHE_PATH=str(cache))  # fmt: skip
        return generators[-1]

    cold = run("cold")
    warm = run("warm")
    assert warm.drawn == [] and sorted(warm.reused) == sorted(cold.drawn)
    # A new release of the font (here: the same font, its bold face's
    # revision changed): every card is drawn again under a new name, so old
    # pictures (boxes and all) are neither reused nor shared; the logo, which
    # has no text, is reused.
    copies = {}
    for weight, path in cards.FONTS.items():
        copies[weight] = tmp_path / "fonts" / path.name
        copies[weight].parent.mkdir(exist_ok=True)
        shutil.copyfile(path, copies[weight])
    with TTFont(copies["bold"]) as face:
        face["head"].fontRevision += 0.001
        face.save(copies["bold"])
    monkeypatch.setattr(cards, "FONTS", copies)
    renewed = run("renewed")
    logo = [name for name in cold.drawn if "/logo-" in name]
    assert len(logo) == 1 and renewed.reused == logo
    cold_cards = sorted(set(cold.drawn) - set(logo))
    assert len(renewed.drawn) == len(cold_cards) >= 5
    assert not set(renewed.drawn) & set(cold_cards)


# -- the README's picture


def readme_card() -> PILImage.Image:
    spec = CardSpec(title=README_TITLE, site_name="The Improvement Lab",
                    brand=BRAND, label="Update")  # fmt: skip
    return draw_card(spec)


def test_the_readme_shows_the_card_of_a_welsh_and_greek_title():
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("### Sharing on social media", 1)[1].split("\n### ", 1)[0]
    link = f"](docs/images/{README_PICTURE.name})"
    assert link in section
    alt = section.split(link)[0].rsplit("![", 1)[1]
    assert "Siân" in alt and "Υγεία" in alt
    with PILImage.open(README_PICTURE) as picture:
        assert picture.format == "PNG"
        assert picture.convert("RGB").tobytes() == readme_card().tobytes(), (
            "the README's picture is not the card drawn today: draw it again "
            "with `PYTHONPATH=plugins .venv/bin/python tests/test_social_fonts.py`"
        )


if __name__ == "__main__":
    README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
    README_PICTURE.write_bytes(cards.png_bytes(readme_card()))
