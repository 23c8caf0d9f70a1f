"""What a page tells social networks and search engines, as data.

`social_meta(page, site)` takes plain facts about one page and the site and
returns everything partials/social_meta.html renders: the description, the
canonical URL, the Open Graph, Twitter and fediverse meta tags in order, and
the JSON-LD blocks, each already serialised and safe inside <script>.
No Pelican here: the generator gathers the facts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from lab_common import plain_text, truncate_words

SCHEMA_ORG = "https://schema.org"
# og:type and the JSON-LD type of each kind of page.
OG_TYPES = {"post": "article"}
# Characters that could end a <script> element or open a comment or entity
# inside it; JSON allows the \uXXXX escape of any character in a string.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@dataclass(frozen=True)
class Image:
    url: str  # absolute
    width: int
    height: int
    alt: str
    mime: str = "image/png"


@dataclass(frozen=True)
class Person:
    name: str
    url: str  # their page on this site, absolute
    twitter: str | None = None  # "@handle"
    mastodon: str | None = None  # "@user@server"
    same_as: tuple[str, ...] = ()  # their profiles elsewhere


@dataclass(frozen=True)
class Crumb:
    name: str
    url: str  # absolute


@dataclass(frozen=True)
class Event:
    name: str
    starts: dt.datetime
    location: str
    url: str | None = None


@dataclass(frozen=True)
class Page:
    """One page. `kind` is home, post, page, challenge, call or listing."""

    kind: str
    url: str  # absolute, the canonical address
    title: str  # what a share shows (front matter may override it)
    description: str  # plain text, already cut to length
    image: Image | None
    headline: str = ""  # the page's own heading (JSON-LD); defaults to title
    breadcrumbs: tuple[Crumb, ...] = ()
    authors: tuple[Person, ...] = ()
    published: dt.datetime | None = None
    # The latest significant change (a change note), never the technical
    # `modified` of front matter, which a typo fixed bumps too.
    modified: dt.datetime | None = None
    # When the page was last reviewed, and by whom (its owner; None: the Lab).
    last_reviewed: dt.date | None = None
    reviewed_by: Person | None = None
    section: str | None = None  # a post's category
    tags: tuple[str, ...] = ()
    # A challenge: its team. A post or call: the challenge it belongs to.
    team: tuple[Person, ...] = ()
    challenge: Crumb | None = None
    # A call: when it closes, who it is for, its state, its event.
    expires: dt.datetime | None = None
    audience: str | None = None
    status: str | None = None
    event: Event | None = None


@dataclass(frozen=True)
class Site:
    name: str
    url: str  # absolute, ends in "/"
    description: str
    locale: str  # "en_GB"
    language: str  # "en-GB"
    logo: Image
    twitter: str | None = None  # twitter:site, "@handle"
    same_as: tuple[str, ...] = ()
    email: str | None = None


def describe(override: str | None, summary_html: str | None, limit: int) -> str:
    """The front matter's own description, else the summary: plain text with
    entities decoded, cut at a word boundary to at most `limit` characters."""
    text = plain_text(override or "") or plain_text(summary_html or "")
    return truncate_words(text, limit)


def script_json(data: Any) -> Markup:
    """`data` as strict JSON that is safe as the text of a <script> element:
    no `<`, `>` or `&` (so no `</script>` or `<!--`), no NaN. Marked Markup:
    the theme prints it as it is, since HTML-escaping a script's text would
    break the JSON (a script's text is not decoded)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for character, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(character, escape)
    return Markup(text)  # noqa: S704 - JSON with no <, > or &


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def social_meta(page: Page, site: Site) -> dict[str, Any]:
    """Everything the <head> needs for `page`: see the module docstring."""
    tags: list[dict[str, str]] = []

    def add(attribute: str, key: str, value: str | int | None) -> None:
        if value is None or value == "":
            return
        tags.append({"attribute": attribute, "key": key, "content": str(value)})

    og = lambda key, value: add("property", key, value)  # noqa: E731
    named = lambda key, value: add("name", key, value)  # noqa: E731

    og("og:title", page.title)
    og("og:type", OG_TYPES.get(page.kind, "website"))
    og("og:url", page.url)
    og("og:site_name", site.name)
    og("og:locale", site.locale)
    og("og:description", page.description)
    if page.image:
        og("og:image", page.image.url)
        og("og:image:type", page.image.mime)
        og("og:image:width", page.image.width)
        og("og:image:height", page.image.height)
        og("og:image:alt", page.image.alt)
    if page.kind == "post":
        og("article:published_time", iso(page.published))
        og("article:modified_time", iso(page.modified or page.published))
        og("article:section", page.section)
        for person in page.authors:
            og("article:author", person.url)
        for tag in page.tags:
            og("article:tag", tag)

    named("twitter:card", "summary_large_image" if page.image else "summary")
    named("twitter:site", site.twitter)
    # One creator only: the first author who has a handle; never a name.
    named("twitter:creator", next((p.twitter for p in page.authors if p.twitter), None))
    named("twitter:title", page.title)
    named("twitter:description", page.description)
    if page.image:
        named("twitter:image", page.image.url)
        named("twitter:image:alt", page.image.alt)
    for person in page.authors:
        named("fediverse:creator", person.mastodon)

    blocks = structured_data(page, site)
    return {
        "title": page.title,
        "description": page.description,
        "canonical": page.url,
        "image": page.image,
        "tags": tags,
        "structured_data": blocks,
        "json_ld": [script_json(block) for block in blocks],
    }


# -- JSON-LD


def structured_data(page: Page, site: Site) -> list[dict[str, Any]]:
    """The JSON-LD blocks of `page`, each a complete document."""
    blocks: list[dict[str, Any]] = []
    if page.kind == "home":
        blocks += [organization(site, full=True), website(site)]
    elif page.kind == "post":
        blocks.append(blog_posting(page, site))
    elif page.kind == "challenge":
        blocks.append(project(page, site))
    elif page.kind == "call":
        blocks.append(call_work(page, site))
        if page.event:
            blocks.append(event(page, site))
    elif page.kind == "page":
        blocks.append(web_page(page, site))
    if page.breadcrumbs:
        blocks.append(breadcrumb_list(page.breadcrumbs))
    return [{"@context": SCHEMA_ORG, **block} for block in blocks]


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out the properties that have no value."""
    return {k: v for k, v in data.items() if v not in (None, "", [], ())}


def image_object(image: Image | None) -> dict[str, Any] | None:
    if image is None:
        return None
    # `url` only: `contentUrl` would repeat it on every page (Google reads
    # either, schema.org takes url for the image's address).
    return {
        "@type": "ImageObject",
        "url": image.url,
        "width": image.width,
        "height": image.height,
        "encodingFormat": image.mime,
        "description": image.alt,
    }


def organization(site: Site, full: bool = False) -> dict[str, Any]:
    data = {
        "@type": "Organization",
        "@id": site.url + "#organization",
        "name": site.name,
        "url": site.url,
        "logo": image_object(site.logo),
    }
    if full:
        data |= {
            "description": site.description,
            "email": site.email,
            "sameAs": list(site.same_as),
        }
    return _compact(data)


def website(site: Site) -> dict[str, Any]:
    return _compact(
        {
            "@type": "WebSite",
            "@id": site.url + "#website",
            "url": site.url,
            "name": site.name,
            "description": site.description,
            "inLanguage": site.language,
            "publisher": {"@id": site.url + "#organization"},
        }
    )


def person(who: Person, same_as: bool = True) -> dict[str, Any]:
    """A Person; `same_as=False` leaves out their profiles elsewhere (a
    challenge's team: each author's page and posts carry them)."""
    return _compact(
        {
            "@type": "Person",
            "name": who.name,
            "url": who.url,
            "sameAs": list(who.same_as) if same_as else [],
        }
    )


def challenge_reference(crumb: Crumb | None) -> dict[str, Any] | None:
    if crumb is None:
        return None
    return {
        "@type": "Project",
        "@id": crumb.url + "#challenge",
        "name": crumb.name,
        "url": crumb.url,
    }


def web_page_reference(page: Page, site: Site) -> dict[str, Any]:
    return {"@type": "WebPage", "@id": page.url, **review_properties(page, site)}


def review_properties(page: Page, site: Site) -> dict[str, Any]:
    """schema.org's lastReviewed and reviewedBy (properties of the WebPage):
    the owner as a Person, else the Lab; nothing for a page never reviewed."""
    if page.last_reviewed is None:
        return {}
    reviewer = person(page.reviewed_by) if page.reviewed_by else organization(site)
    return {"lastReviewed": page.last_reviewed.isoformat(), "reviewedBy": reviewer}


def blog_posting(page: Page, site: Site) -> dict[str, Any]:
    return _compact(
        {
            "@type": "BlogPosting",
            "@id": page.url + "#article",
            "mainEntityOfPage": web_page_reference(page, site),
            "url": page.url,
            "headline": page.headline or page.title,
            "description": page.description,
            "image": image_object(page.image),
            "datePublished": iso(page.published),
            "dateModified": iso(page.modified or page.published),
            "author": [person(p) for p in page.authors],
            "publisher": organization(site),
            "articleSection": page.section,
            "keywords": list(page.tags),
            "inLanguage": site.language,
            "about": challenge_reference(page.challenge),
            "isPartOf": {"@id": site.url + "#website"},
        }
    )


def project(page: Page, site: Site) -> dict[str, Any]:
    """A challenge is a schema.org Project: "an enterprise ... planned to
    achieve a particular aim", worked on by a team, run by the Lab."""
    return _compact(
        {
            "@type": "Project",
            "@id": page.url + "#challenge",
            "mainEntityOfPage": web_page_reference(page, site),
            "url": page.url,
            "name": page.headline or page.title,
            "description": page.description,
            "image": image_object(page.image),
            "keywords": list(page.tags),
            "member": [person(p, same_as=False) for p in page.team],
            "parentOrganization": organization(site),
        }
    )


def call_work(page: Page, site: Site) -> dict[str, Any]:
    """A call for involvement is a CreativeWork that `expires` when the call
    closes: an invitation open for a time, not an event in itself."""
    return _compact(
        {
            "@type": "CreativeWork",
            "@id": page.url + "#call",
            "mainEntityOfPage": web_page_reference(page, site),
            "url": page.url,
            "name": page.headline or page.title,
            "headline": page.headline or page.title,
            "description": page.description,
            "image": image_object(page.image),
            "datePublished": iso(page.published),
            "dateModified": iso(page.modified),
            "expires": iso(page.expires),
            "creativeWorkStatus": page.status,
            "audience": {"@type": "Audience", "audienceType": page.audience}
            if page.audience
            else None,
            "publisher": organization(site),
            "about": challenge_reference(page.challenge),
            "inLanguage": site.language,
        }
    )


def event(page: Page, site: Site) -> dict[str, Any]:
    """The event a call invites people to, when it is one."""
    happening = page.event
    return _compact(
        {
            "@type": "Event",
            "name": happening.name,
            "startDate": iso(happening.starts),
            "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
            "eventStatus": "https://schema.org/EventScheduled",
            "location": {
                "@type": "Place",
                "name": happening.location,
                "address": happening.location,
            },
            "url": happening.url or page.url,
            "description": page.description,
            "image": image_object(page.image),
            "organizer": organization(site),
        }
    )


def web_page(page: Page, site: Site) -> dict[str, Any]:
    return _compact(
        {
            "@type": "WebPage",
            "@id": page.url,
            "url": page.url,
            "name": page.headline or page.title,
            "description": page.description,
            "primaryImageOfPage": image_object(page.image),
            "dateModified": iso(page.modified),
            **review_properties(page, site),
            "inLanguage": site.language,
            "isPartOf": {"@id": site.url + "#website"},
        }
    )


def breadcrumb_list(crumbs: Iterable[Crumb]) -> dict[str, Any]:
    return {
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": index, "name": crumb.name,
             "item": crumb.url}
            for index, crumb in enumerate(crumbs, start=1)
        ],
    }  # fmt: skip
