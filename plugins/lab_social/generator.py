"""The social generator: the thin adapter between Pelican and meta.py.

It puts itself in the shared context as `lab_social`; base.html calls
`lab_social.for_page(...)` while each page is written, once every generator
has read its content (so static files and their URLs are known). Card images
are drawn into the cache only when missing and copied into the output.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
from jinja2 import Undefined
from pelican.generators import Generator
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from lab_common import (
    SettingsError,
    absolute_url,
    aware,
    output_url,
    plain_text,
    truncate_words,
)
from lab_common.output import placed_output
from lab_common.processes import track_pool

from .cards import Brand, CardSpec, LogoSpec, cached_png, draw_card, draw_logo
from .meta import Crumb, Event, Image, Page, Person, Site, describe, social_meta
from .settings import social_settings

logger = logging.getLogger(__name__)

# Social networks show raster images only; an SVG (all the sample images) is
# passed over for the next choice.
RASTER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
# The small line above the title on a card, by kind of page.
CARD_LABELS = {
    "post": "Update",
    "challenge": "Challenge",
    "call": "Get involved",
    "page": "",
}


def listing_title(title: str, site_name: str) -> str:
    """A listing's <title> without the theme's " \u2013 Site name" ending (an
    en dash), which og:site_name already carries."""
    for separator in (" \u2013 ", " - ", " | "):
        if title.endswith(separator + site_name) and len(title) > len(
            separator + site_name
        ):
            return title[: -len(separator + site_name)]
    return title


def given(value: Any) -> Any:
    """A template argument, or None when the template had nothing to pass."""
    if value is None or isinstance(value, Undefined):
        return None
    return value


class SocialGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = social_settings(self.settings)
        # The settings keep the absolute SITEURL; only the writer's page context
        # turns it relative for RELATIVE_URLS builds.
        self.siteurl = self.settings["SITEURL"].rstrip("/")
        if urlsplit(self.siteurl).scheme not in ("http", "https"):
            raise SettingsError(
                f"SITEURL: {self.siteurl!r} is not absolute; lab_social needs an "
                "http(s) address for the URLs it shares"
            )
        self.brand = Brand(
            background=self.options["LAB_SOCIAL_CARD_BACKGROUND"],
            foreground=self.options["LAB_SOCIAL_CARD_FOREGROUND"],
            accent=self.options["LAB_SOCIAL_CARD_ACCENT"],
        )
        self.cache_dir = Path(self.options["LAB_SOCIAL_CACHE_PATH"])
        self.cards_path = self.options["LAB_SOCIAL_CARDS_PATH"].strip("/")
        # This build's images, by cache key: (save_as, width, height).
        self.images: dict[str, tuple[str, int, int]] = {}
        self.drawn: list[str] = []  # save_as of every image drawn this build
        self.reused: list[str] = []  # ... and of every one found in the cache
        self.warned: set[str] = set()  # cards checked for characters left out
        self._sizes: dict[str, tuple[int, int, str] | None] = {}
        self._static_by_url: dict[str, Any] | None = None
        self._site: Site | None = None
        self._logo_as = ""  # where the site's logo is, in the output folder
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self._reported = False
        self.context["lab_social"] = self

    # -- what templates call

    def for_page(
        self,
        *,
        output_file: str | None = None,
        article=None,
        page=None,
        challenge=None,
        call=None,
        title: str = "",
        description: str = "",
        breadcrumbs: Iterable[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The social metadata of the page being written to `output_file`: a
        post, page, challenge or call when that item's own page is being
        written; else a listing or the home page, described by its rendered
        `title` and
        `description` blocks. `breadcrumbs` is the theme's `lab_breadcrumbs`."""
        output_file = given(output_file)
        if not output_file:
            return None
        url = output_url(self.siteurl, output_file)
        crumbs = self._crumbs(given(breadcrumbs) or (), url)
        for kind, item in (
            ("post", article),
            ("challenge", challenge),
            ("call", call),
            ("page", page),
        ):
            item = given(item)
            if item and getattr(item, "save_as", None) == output_file:
                facts = self._item_page(kind, item, url, crumbs)
                break
        else:
            facts = self._listing_page(
                url, str(given(title) or ""), str(given(description) or ""), crumbs
            )
        return social_meta(facts, self.site())

    # -- the site

    def site(self) -> Site:
        if self._site is None:
            s = self.settings
            name = s["SITENAME"]
            logo_spec = LogoSpec(self.brand)
            save_as, width, height = self._image(
                logo_spec.key(),
                lambda: draw_logo(logo_spec),
                f"{self.cards_path}/logo-{logo_spec.key()[:12]}.png",
            )
            self._logo_as = save_as
            account = s.get("LAB_SOCIAL_ACCOUNT") or {}
            handle = self.options["LAB_TWITTER_SITE"]
            same_as = [account.get("url") if isinstance(account, dict) else None]
            if handle:
                same_as.append(twitter_url(handle))
            self._site = Site(
                name=name,
                url=absolute_url(self.siteurl, ""),
                description=plain_text(s.get("LAB_SITE_DESCRIPTION") or name),
                locale=self.options["LAB_SOCIAL_LOCALE"],
                language=s.get("DEFAULT_LANG") or "en",
                logo=Image(
                    url=absolute_url(self.siteurl, save_as),
                    width=width,
                    height=height,
                    alt=f"The logo of {name}",
                ),
                twitter=handle or None,
                same_as=tuple(u for u in same_as if u),
                email=s.get("LAB_CONTACT_EMAIL") or None,
            )
        # Every page that shows the site needs its logo (lab_writer).
        placed_output(self._logo_as)
        return self._site

    # -- pages

    def _item_page(self, kind: str, item, url: str, crumbs) -> Page:
        social = item.metadata.get("social") or {}
        headline = " ".join(str(item.title).split())
        title = " ".join(social.get("title", headline).split())
        summary = getattr(item, "summary", None)
        facts: dict[str, Any] = {
            "kind": kind,
            "url": url,
            "title": title,
            "headline": headline,
            "description": describe(
                social.get("description"),
                summary,
                self.options["LAB_SOCIAL_DESCRIPTION_LENGTH"],
            ),
            "image": self._item_image(kind, item, social, title, url),
            "breadcrumbs": crumbs,
            **self._review_facts(item),
        }
        challenge = getattr(item, "challenge", None)
        if challenge is not None and kind in ("post", "call"):
            facts["challenge"] = Crumb(
                " ".join(challenge.title.split()),
                absolute_url(self.siteurl, challenge.url),
            )
        if kind == "post":
            facts |= {
                "authors": tuple(self._person(a) for a in item.authors),
                "published": self._date(item.date),
                "section": item.category.name if item.category else None,
                "tags": tuple(t.name for t in getattr(item, "tags", []) or []),
            }
            # A change note is dated by day (midnight): on the day a post is
            # published it is no earlier than the post itself.
            if facts.get("modified") and facts["modified"] < facts["published"]:
                facts["modified"] = facts["published"]
        elif kind == "challenge":
            facts |= {
                "team": tuple(
                    self._profile_person(p) for p in getattr(item, "team", [])
                ),
                "tags": (item.metadata["theme"],) if "theme" in item.metadata else (),
            }
        elif kind == "call":
            respond = item.metadata.get("respond") or {}
            happening = respond.get("event")
            facts |= {
                "expires": self._date(item.metadata.get("closes")),
                "audience": item.metadata.get("audience"),
                "status": getattr(item, "status_label", None),
                "event": Event(
                    name=happening["name"],
                    starts=self._date(happening["starts"]),
                    location=" ".join(happening["location"].split()),
                    url=respond.get("url"),
                )
                if happening
                else None,
            }
        return Page(**facts)

    def _listing_page(self, url: str, title: str, text: str, crumbs) -> Page:
        site = self.site()
        home = url == site.url
        spec = CardSpec(title=site.description, site_name=site.name, brand=self.brand)
        image = self._card(
            spec, "site", f"{site.name}. {site.description}",
            source="SITENAME and LAB_SITE_DESCRIPTION",
        )  # fmt: skip
        return Page(
            kind="home" if home else "listing",
            url=url,
            title=listing_title(plain_text(title), site.name) or site.name,
            description=truncate_words(
                plain_text(text) or site.description,
                self.options["LAB_SOCIAL_DESCRIPTION_LENGTH"],
            ),
            image=image,
            breadcrumbs=crumbs,
        )

    def _crumbs(self, breadcrumbs, url: str) -> tuple[Crumb, ...]:
        # Each crumb has `text` and `path` (site-relative); the current page
        # has no path. The theme renders the same list (partials/breadcrumbs).
        crumbs = []
        for crumb in breadcrumbs:
            path = given(crumb.get("path"))
            crumbs.append(
                Crumb(
                    name=" ".join(str(crumb.get("text", "")).split()),
                    url=url if path is None else absolute_url(self.siteurl, path),
                )
            )
        return tuple(crumbs)

    def _review_facts(self, item) -> dict[str, Any]:
        """The latest significant change and the last review (lab_content's
        `item.review`); the technical `modified` of front matter is not one."""
        review = getattr(item, "review", None)
        if review is None:
            return {}
        owner = (self.context.get("lab_authors") or {}).get(review.owner)
        return {
            "modified": self._date(review.last_updated),
            "last_reviewed": review.reviewed,
            "reviewed_by": self._profile_person(owner) if owner else None,
        }

    def _date(self, value):
        if value is None:
            return None
        return aware(value, self.settings.get("TIMEZONE") or "UTC")

    # -- people

    def _person(self, author) -> Person:
        profiles = self.context.get("lab_authors") or {}
        profile = profiles.get(getattr(author, "slug", None))
        if profile is None:
            return Person(name=author.name, url=absolute_url(self.siteurl, author.url))
        return self._profile_person(profile)

    def _profile_person(self, profile: Mapping[str, Any]) -> Person:
        same_as = [
            twitter_url(profile["twitter"]) if profile.get("twitter") else None,
            profile.get("mastodon_url"),
            profile.get("url"),
        ]
        return Person(
            name=profile.get("name") or profile["key"],
            url=absolute_url(self.siteurl, profile["page_url"]),
            twitter=profile.get("twitter"),
            mastodon=profile.get("mastodon"),
            same_as=tuple(u for u in same_as if u),
        )

    # -- images

    def _item_image(self, kind, item, social, title, url) -> Image:
        """Front matter `social.image`, else front matter `image`, else the
        first usable image in the content, else a card drawn for the item."""
        override = social.get("image")
        if override:
            image = self._static_image(override["src"], override["alt"])
            if image is None:
                logger.warning(
                    "%s: social.image %s is not a PNG, JPEG, GIF or WebP file of "
                    "the site; sharing the drawn card instead",
                    item.relative_source_path,
                    override["src"],
                )
            else:
                return image
        own = item.metadata.get("image")
        if own:
            image = self._static_image(own["src"], own["alt"])
            if image is not None:
                return image
        image = self._first_content_image(item, url)
        if image is not None:
            return image
        label = CARD_LABELS.get(kind, "")
        spec = CardSpec(
            title=title, site_name=self.settings["SITENAME"], brand=self.brand,
            label=label,
        )  # fmt: skip
        words = f"{label}: {title}" if label else title
        return self._card(
            spec, item.slug, f"{spec.site_name}. {words}",
            source=item.relative_source_path,
        )  # fmt: skip

    def _static_image(self, src: str, alt: str) -> Image | None:
        path = src.strip().removeprefix("{static}").lstrip("/")
        static = (self.context.get("static_content") or {}).get(path)
        if static is None:
            return None
        return self._image_of(static, alt)

    def _first_content_image(self, item, url: str) -> Image | None:
        if "lab_first_image" in item.metadata:
            # lab_content's reader noted the text's first image while reading.
            first = item.metadata["lab_first_image"]
            if first is None:
                return None
            image = self._static_image(first["src"], " ".join(first["alt"].split()))
            if image is not None and image.alt:
                return image
        html = item.get_content(self.siteurl)
        if not html or "<img" not in html:
            return None
        root = lxml.html.fragment_fromstring(html, create_parent="div")
        for node in root.iter("img"):
            alt = " ".join((node.get("alt") or "").split())
            src = (node.get("src") or "").strip()
            if not alt or not src:
                continue  # a decorative image says nothing in a share
            address = urljoin(url, src)
            if not address.startswith(self.siteurl + "/"):
                continue  # another host's image: its size cannot be checked
            static = self._statics_by_url().get(
                unquote(address[len(self.siteurl) + 1 :])
            )
            if static is not None:
                image = self._image_of(static, alt)
                if image is not None:
                    return image
        return None

    def _statics_by_url(self) -> dict[str, Any]:
        if self._static_by_url is None:
            self._static_by_url = {
                s.url: s for s in (self.context.get("static_content") or {}).values()
            }
        return self._static_by_url

    def _image_of(self, static, alt: str) -> Image | None:
        if not static.source_path.lower().endswith(RASTER_EXTENSIONS):
            return None
        size = self._size(static.source_path)
        if size is None:
            return None
        width, height, mime = size
        return Image(
            url=absolute_url(self.siteurl, static.url),
            width=width,
            height=height,
            alt=" ".join(alt.split()),
            mime=mime,
        )

    def _size(self, path: str) -> tuple[int, int, str] | None:
        """Width, height and type read from the file itself."""
        if path not in self._sizes:
            try:
                with PILImage.open(path) as image:
                    mime = PILImage.MIME.get(image.format or "", "")
                    self._sizes[path] = (*image.size, mime)
            except (OSError, UnidentifiedImageError) as exc:
                logger.warning("lab_social: cannot read image %s: %s", path, exc)
                self._sizes[path] = None
        return self._sizes[path]

    def _card(self, spec: CardSpec, name: str, alt: str, source: str) -> Image:
        """The card of `spec`, named after `name`; `source` (the file or the
        settings the card's text comes from) is named in a warning when the
        card leaves out characters that its font does not have."""
        key = spec.key()
        save_as = f"{self.cards_path}/{name}-{key[:12]}.png"
        if key not in self.warned:
            self.warned.add(key)
            left_out = spec.left_out()
            if left_out:
                # Information, not a warning: an emoji in a title is the Lab's
                # choice, and the page keeps it; a warning would fail the
                # checks of the Lab's content (tests/test_lab_content.py).
                logger.info(
                    "lab_social: %s: the card image leaves out %s, which its "
                    "font (Noto Sans: Latin, Greek, Cyrillic) does not have; "
                    "the page and its shared title keep them",
                    source,
                    ", ".join(f"{c!r} ({code_points(c)})" for c in left_out),
                )
        if key not in self.images and not (self.cache_dir / f"{key}.png").is_file():
            # A new card's size is its spec's, so the page can name it at once
            # while a worker thread draws it: Pillow's PNG encoder, most of
            # the cost, runs without the GIL, beside the page rendering.
            self.images[key] = (save_as, spec.width, spec.height)
            if self._pool is None:
                # Known to lab_common.processes, which shuts it down if the
                # build fails before finish_rendering does.
                self._pool = track_pool(
                    ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
                )
            self._pending.append(
                self._pool.submit(self._place, key, lambda: draw_card(spec), save_as)
            )
        save_as, width, height = self._image(key, lambda: draw_card(spec), save_as)
        placed_output(save_as)  # the page being rendered needs it (lab_writer)
        return Image(
            url=absolute_url(self.siteurl, save_as), width=width, height=height,
            alt=alt,
        )  # fmt: skip

    def _image(
        self, key: str, draw: Callable[[], PILImage.Image], save_as: str
    ) -> tuple[str, int, int]:
        """Make sure the image is in the cache (drawing it only if it is not)
        and in the output; its output name and its real size."""
        if key not in self.images:
            cached = self._place(key, draw, save_as)
            width, height, _ = self._size(os.fspath(cached))
            self.images[key] = (save_as, width, height)
        return self.images[key]

    def _place(
        self, key: str, draw: Callable[[], PILImage.Image], save_as: str
    ) -> Path:
        """Draw the image into the cache if it is not there, and copy it into
        the output; the cached file's path."""
        cached, drawn = cached_png(key, draw, self.cache_dir)
        (self.drawn if drawn else self.reused).append(save_as)
        target = Path(self.output_path) / save_as
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and filecmp.cmp(cached, target, shallow=False)):
            shutil.copyfile(cached, target)
        return cached

    def generate_output(self, writer):
        self.finish_rendering()

    def finish_rendering(self) -> None:
        """Wait for the cards still being drawn (a drawing error is raised
        here). Called when pages are written: by this generator's turn to
        write, and by lab_writer in each process that renders pages, after
        its last page (pages may be rendered after this generator's turn)."""
        for future in self._pending:
            future.result()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if (self.drawn or self.reused) and not self._reported:
            self._reported = True
            logger.info(
                "lab_social: %d image(s) drawn, %d from the cache",
                len(self.drawn),
                len(self.reused),
            )


def code_points(text: str) -> str:
    """ "\u0175" -> "U+0175"; each code point of `text`, for messages."""
    return " ".join(f"U+{ord(c):04X}" for c in text)


def twitter_url(handle: str) -> str:
    return "https://twitter.com/" + handle.lstrip("@")
