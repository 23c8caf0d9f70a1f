"""The content generator: reads challenges and calls, links posts, calls and
challenges to each other, works out every derived status, and refuses to
build when any content is wrong."""

from __future__ import annotations

import logging
import os
from operator import attrgetter
from typing import Any

from pelican.generators import Generator
from pelican.utils import posixize_path

from lab_common import plain_text
from lab_common.errors import ContentValidationError
from lab_common.output import write_output
from lab_common.reviews import as_date, item_review

from .addresses import collision_line, collisions, link_target, missing_link_line
from .authors import UNREADABLE, parse_authors
from .contents import Call, Challenge
from .ics import call_closing_ics
from .model import (
    CALL_STATUS_LABELS,
    build_now,
    call_sort_key,
    call_status,
    commitment_text,
    current_phase,
    phase_states,
)
from .navigation import RelatedIndex, reading_minutes, with_neighbours
from .reader import content_kind
from .settings import lab_settings
from .urlwrappers import Author

logger = logging.getLogger(__name__)


class LabContentGenerator(Generator):
    def __init__(self, *args, **kwargs):
        # A cache name gives challenges and calls Pelican's content cache, as
        # posts and pages have it (saved at the end of generate_context).
        kwargs.setdefault("readers_cache_name", "LabContentGenerator-Readers")
        super().__init__(*args, **kwargs)
        self.lab = lab_settings(self.settings)
        self.now = build_now(self.settings)
        self.challenges: list[Challenge] = []
        self.calls: list[Call] = []
        self.problems: list[str] = []
        # A file with errors of its own -> the "path: field" that name it.
        self._referrers: dict[str, set[str]] = {}

    # -- reading

    def _read_all(self, paths: list[str], content_class) -> list:
        items = []
        for path in sorted(self.get_files(paths, extensions=("md", "markdown"))):
            item = self.readers.read_file(
                base_path=self.path,
                path=path,
                content_class=content_class,
                context=self.context,
            )
            self.add_source_path(item)
            items.append(item)
        return items

    def _read_authors(self) -> dict[str, dict[str, Any]] | None:
        """The profiles by key; None when the file cannot be read at all, so
        that nobody's author keys are checked against an empty list."""
        name = self.lab["LAB_AUTHORS_FILE"]
        path = os.path.join(self.path, name)
        if not os.path.exists(path):
            self.problems.append(f"{name}: {UNREADABLE}: is missing")
            return None
        with open(path, encoding="utf-8-sig") as handle:
            profiles, problems = parse_authors(handle.read())
        self.problems += [f"{name}: {field}: {reason}" for field, reason in problems]
        if any(field == UNREADABLE for field, _ in problems):
            return None
        for key, profile in profiles.items():
            profile["page_url"] = self.settings["AUTHOR_URL"].format(slug=key)
        return profiles

    # -- linking and deriving

    def generate_context(self):
        authors = self._read_authors()
        challenges = self._read_all(self.lab["LAB_CHALLENGE_PATHS"], Challenge)
        calls = self._read_all(self.lab["LAB_CALL_PATHS"], Call)
        self.readers.save_cache()
        context = self.context
        posts = _posts(context)
        everything = [*posts, *_pages(context), *challenges, *calls]
        for item in everything:
            self.problems += item.metadata.get("lab_errors", [])

        by_slug = {}
        for challenge in challenges:
            self._derive_challenge(challenge, authors)
            by_slug[challenge.slug] = challenge
        for call in calls:
            self._derive_call(call, by_slug)
        for article in [*context.get("articles", []), *context.get("drafts", [])]:
            self._link_article(article, by_slug)
        for post in posts:
            self._check_authors(post, authors)
        for item in everything:
            self._derive_review(item, authors)
        for item in everything:
            self._check_file_links(item)
        self._point_at_broken_files()

        if self.problems:
            raise ContentValidationError(sorted(set(self.problems)))

        self.challenges = sorted(
            (c for c in challenges if c.status == "published"),
            key=lambda c: c.phases[0].starts,
            reverse=True,
        )
        self.calls = sorted(
            (c for c in calls if c.status == "published"),
            key=lambda c: call_sort_key(c.status_key, c.opens, c.closes),
        )
        for challenge in self.challenges:
            challenge.updates = sorted(
                (a for a in context.get("articles", []) if a.challenge is challenge),
                key=attrgetter("date"),
                reverse=True,
            )
            # The newest as cards, the rest as a list (the template's two parts).
            cards = self.lab["LAB_CHALLENGE_UPDATE_CARDS"]
            challenge.recent_updates = challenge.updates[:cards]
            challenge.earlier_updates = challenge.updates[cards:]
            challenge.calls = [c for c in self.calls if c.challenge is challenge]
        self._link_neighbours(context.get("articles", []))
        self._hidden = [c for c in [*challenges, *calls] if c.status == "hidden"]

        self._freeze_urls(
            [*context.get("articles", []), *context.get("pages", []),
             *context.get("hidden_pages", []), *self.challenges, *self.calls]
        )  # fmt: skip
        context["lab_authors"] = authors or {}
        context["lab_today"] = self.now
        context["challenges"] = self.challenges
        context["calls"] = self.calls
        context["open_calls"] = [
            c for c in self.calls if c.status_key in ("open", "closing-soon")
        ]

    @staticmethod
    def _freeze_urls(items: list) -> None:
        # Pelican formats a content's URL from its settings on every access,
        # and listings, feeds and links ask for it tens of thousands of times;
        # once statuses are settled it can no longer change, so work it out once
        # (and where it is written, which the writer asks for as often).
        # override_save_as also lets a write replace another file without a
        # word from Pelican's writer; check_outputs refuses any two sources on
        # one file before anything is written, so nothing is replaced.
        for item in items:
            item.override_url = item.url
            item.override_save_as = item.save_as

    def _link_neighbours(self, articles: list) -> None:
        """Previous and next post (site-wide and within the post's challenge),
        related updates and reading time, for every published post."""
        oldest_first = articles[::-1]  # Pelican lists posts newest first
        related = RelatedIndex(articles)
        for article, previous, following in with_neighbours(oldest_first):
            article.prev_article, article.next_article = previous, following
            article.related = related.related(article, self.lab["LAB_RELATED_LIMIT"])
            article.reading_minutes = article.metadata.get(
                "lab_reading_minutes"
            ) or reading_minutes(plain_text(article._content))
            article.challenge_previous = article.challenge_next = None
        for challenge in self.challenges:
            in_order = challenge.updates[::-1]
            for article, previous, following in with_neighbours(in_order):
                article.challenge_previous, article.challenge_next = previous, following

    def _derive_challenge(self, challenge: Challenge, authors: dict) -> None:
        today = self.now.date()
        if "phases" in challenge.metadata:
            challenge.phases = phase_states(challenge.metadata["phases"], today)
        else:
            challenge.phases = []
        challenge.current_phase = current_phase(challenge.phases)
        challenge.team = []
        for key in challenge.metadata.get("team", []):
            if authors is None:
                self._not_checked(challenge, "team", self.lab["LAB_AUTHORS_FILE"])
            elif key in authors:
                challenge.team.append(authors[key])
            else:
                self.problems.append(
                    f"{_path(challenge)}: team: unknown author key {key!r}"
                )
        challenge.updates = []
        challenge.recent_updates = []
        challenge.earlier_updates = []
        challenge.calls = []
        challenge.image = challenge.metadata.get("image")

    def _derive_call(self, call: Call, challenges: dict[str, Challenge]) -> None:
        key = call.metadata.get("challenge")
        call.challenge = self._find_challenge(call, key, challenges)
        if "opens" not in call.metadata or "closes" not in call.metadata:
            call.status_key = "closed"
            return
        call.commitment_text = commitment_text(call.metadata["commitments"])
        # Pelican reserves `status` for published/hidden/draft; the derived
        # state of the call is `status_key` and its words `status_label`.
        call.status_key = call_status(
            call.opens, call.closes, self.now, self.lab["LAB_CLOSING_SOON_DAYS"]
        )
        call.status_label = CALL_STATUS_LABELS[call.status_key]
        call.ics_url = call.url + call.slug + ".ics"
        call.ics_save_as = posixize_path(
            os.path.join(os.path.dirname(call.save_as), call.slug + ".ics")
        )
        call.image = call.metadata.get("image")
        call.support = call.metadata.get("support")

    def _link_article(self, article, challenges: dict[str, Challenge]) -> None:
        key = article.metadata.get("challenge")
        article.challenge = self._find_challenge(article, key, challenges)
        article.phase = None
        phase_slug = article.metadata.get("phase")
        if article.challenge and phase_slug:
            if "phases" not in article.challenge.metadata:
                # The challenge's own phases are wrong, and said so there.
                self._not_checked(article, "phase", _path(article.challenge))
                return
            article.phase = next(
                (p for p in article.challenge.phases if p.slug == phase_slug), None
            )
            if article.phase is None:
                known = ", ".join(p.slug for p in article.challenge.phases)
                self.problems.append(
                    f"{_path(article)}: phase: unknown phase {phase_slug!r} "
                    f"of challenge {key!r} (known: {known})"
                )

    def _find_challenge(self, item, key, challenges) -> Challenge | None:
        if not key:
            return None
        if key not in challenges:
            known = ", ".join(sorted(challenges)) or "none"
            self.problems.append(
                f"{_path(item)}: challenge: unknown challenge {key!r} (known: {known})"
            )
            return None
        return challenges[key]

    def _check_authors(self, post, authors: dict | None) -> None:
        for author in post.metadata.get("authors", []):
            if authors is None:
                self._not_checked(post, "authors", self.lab["LAB_AUTHORS_FILE"])
            elif author.slug not in authors:
                self.problems.append(
                    f"{_path(post)}: authors: unknown author key {author.slug!r}"
                )

    def _derive_review(self, item, authors: dict | None) -> None:
        """`item.review` (lab_common.reviews.ItemReview), and the rules of
        the review fields that need today or the authors file."""
        metadata, today = item.metadata, self.now.date()
        where = _path(item)
        owner = metadata.get("owner")
        if owner is not None:
            if authors is None:
                self._not_checked(item, "owner", self.lab["LAB_AUTHORS_FILE"])
            elif owner not in authors:
                self.problems.append(f"{where}: owner: unknown author key {owner!r}")
        reviewed = metadata.get("reviewed")
        if reviewed is not None and reviewed > today:
            self.problems.append(
                f"{where}: reviewed: {reviewed} is in the future (today is {today})"
            )
        for index, change in enumerate(metadata.get("changes", [])):
            if change["date"] > today:
                self.problems.append(
                    f"{where}: changes[{index}].date: {change['date']} is in the "
                    f"future (today is {today})"
                )
        kind = metadata.get("lab_kind")
        item.review = item_review(
            metadata,
            kind=kind,
            # A call is published when it opens; pages and challenges carry
            # no date of their own.
            published=as_date(metadata.get("date") or metadata.get("opens")),
            today=today,
            every_by_kind=self.lab["LAB_REVIEW_EVERY"],
            soon_days=self.lab["LAB_REVIEW_DUE_SOON_DAYS"],
        )

    def _check_file_links(self, item) -> None:
        """A link by file name to a file that does not exist (renamed,
        deleted) fails the build: Pelican would only warn while writing."""
        where = _path(item)
        known = (self.context["generated_content"], self.context["static_content"])
        for kind, link in item.metadata.get("lab_file_links", []):
            target = link_target(where, link)
            if any(target in found for found in known) or os.path.isfile(
                os.path.join(self.path, target)
            ):
                continue
            self.problems.append(
                missing_link_line(
                    where,
                    kind,
                    link,
                    target,
                    lambda path: content_kind(
                        os.path.join(self.path, path),
                        {**self.lab, "PATH": self.path},
                    ),
                )
            )

    def _not_checked(self, item, field: str, broken: str) -> None:
        # What `item` names is in a file with its own errors: one line for all
        # that name it (_point_at_broken_files), not one wrong line each.
        self._referrers.setdefault(broken, set()).add(f"{_path(item)}: {field}")

    def _point_at_broken_files(self) -> None:
        for broken, referrers in sorted(self._referrers.items()):
            first, *others = sorted(referrers)
            verb = "is" if len(others) == 1 else "are"
            more = f"; nor {verb} {len(others)} more that name it" if others else ""
            self.problems.append(f"{first}: not checked until {broken} is fixed{more}")

    # -- before writing: no two sources write one file

    def check_outputs(self, generators) -> None:
        """Refuse the build, before anything is written, when two sources
        would write one output file, or two posts share a slug (their
        comments folder and links would mix).

        Sent by all_generators_finalized: by then every generator has said
        what it will write. Other plugins' generators add theirs through a
        `lab_output_claims()` method of (save_as, words for the source) pairs.
        """
        claims = [*self._content_claims(), *self._listing_claims()]
        for generator in generators:
            if generator is not self and hasattr(generator, "lab_output_claims"):
                claims += generator.lab_output_claims()
        shared = self._shared_post_slugs()
        problems = [line for group in shared.values() for line in group]
        for save_as, sources in collisions(claims).items():
            # Two posts on one slug in one year: said once, as a slug.
            if not any(set(sources) <= set(paths) for paths in shared):
                problems.append(collision_line(save_as, sources))
        if problems:
            raise ContentValidationError(sorted(problems))

    def _content_claims(self):
        context = self.context
        everything = [*_posts(context), *_pages(context)]
        for item in [*everything, *self.challenges, *self.calls, *self._hidden]:
            for version in [item, *getattr(item, "translations", [])]:
                yield version.save_as, _path(version)
        for call in [*self.calls, *self._hidden_of(Call)]:
            if hasattr(call, "ics_save_as"):
                yield call.ics_save_as, f"{_path(call)} (its calendar file)"
        for static in context.get("staticfiles", []):
            yield static.save_as, _path(static)

    def _listing_claims(self):
        context, settings = self.context, self.settings
        for kind, key in (("tag", "tags"), ("category", "categories"),
                          ("author", "authors")):  # fmt: skip
            for thing, _ in context.get(key, []):
                # Authors by key: the same words as the profiles' below.
                name = thing.slug if kind == "author" else thing.name
                yield thing.save_as, f"{kind} {name!r} ({kind.upper()}_SAVE_AS)"
        for key in context.get("lab_authors", {}):
            save_as = settings["AUTHOR_SAVE_AS"].format(slug=key)
            yield save_as, f"author {key!r} (AUTHOR_SAVE_AS)"
        for name in settings["DIRECT_TEMPLATES"]:
            setting = f"{name.upper()}_SAVE_AS"
            yield settings.get(setting, f"{name}.html"), f"the {name} page ({setting})"
        for period in ("YEAR", "MONTH", "DAY"):
            setting = f"{period}_ARCHIVE_SAVE_AS"
            if not settings.get(setting):
                continue
            for post in context.get("articles", []):
                save_as = settings[setting].format(date=post.date)
                yield save_as, f"an archive page ({setting})"
        for listing in ("LAB_CHALLENGES_SAVE_AS", "LAB_CALLS_SAVE_AS"):
            yield self.lab[listing], f"a listing ({listing})"
        for setting in ("FEED_ATOM", "FEED_RSS", "FEED_ALL_ATOM", "FEED_ALL_RSS"):
            if settings.get(setting):
                yield settings[setting], f"a feed ({setting})"

    def _shared_post_slugs(self) -> dict[tuple[str, ...], list[str]]:
        """Posts that share a slug (the paths) -> their problem lines."""
        by_slug: dict[str, list[str]] = {}
        for post in _posts(self.context):
            by_slug.setdefault(post.slug, []).append(_path(post))
        return {
            tuple(paths): [
                f"{later}: slug: {slug!r} is also the address of {first}, and a "
                "post's comments and links find it by its slug; give one of them "
                "another slug"
                for later in others
            ]
            for slug, paths in sorted(by_slug.items())
            if len(paths) > 1
            for first, *others in [sorted(paths)]
        }

    # -- writing

    def generate_output(self, writer):
        for challenge in [*self.challenges, *self._hidden_of(Challenge)]:
            writer.write_file(
                challenge.save_as,
                self.get_template(challenge.template),
                self.context,
                challenge=challenge,
                page=challenge,
                relative_urls=self.settings["RELATIVE_URLS"],
                override_output=hasattr(challenge, "override_save_as"),
                url=challenge.url,
            )
        for call in [*self.calls, *self._hidden_of(Call)]:
            writer.write_file(
                call.save_as,
                self.get_template(call.template),
                self.context,
                call=call,
                page=call,
                relative_urls=self.settings["RELATIVE_URLS"],
                url=call.url,
            )
            self._write_ics(writer, call)
        self._write_profiles_without_posts(writer)
        for template, save_as, url in (
            ("challenges", "LAB_CHALLENGES_SAVE_AS", "LAB_CHALLENGES_URL"),
            ("get_involved", "LAB_CALLS_SAVE_AS", "LAB_CALLS_URL"),
        ):
            writer.write_file(
                self.lab[save_as],
                self.get_template(template),
                self.context,
                relative_urls=self.settings["RELATIVE_URLS"],
                page_name=template,
                url=self.lab[url],
            )

    def _write_profiles_without_posts(self, writer) -> None:
        # Pelican writes a page for each author of a post; someone who is only
        # on a challenge's team still needs the page their name links to.
        with_posts = {author.slug for author, _ in self.context.get("authors", [])}
        template = self.get_template("author")
        for key, profile in self.context["lab_authors"].items():
            if key in with_posts:
                continue
            author = Author(profile["name"] or key, self.settings)
            author.slug = key
            writer.write_file(
                author.save_as,
                template,
                self.context,
                relative_urls=self.settings["RELATIVE_URLS"],
                author=author,
                articles=[],
                dates=[],
                template_name="author",
                blog=True,
                page_name=author.page_name,
                url=author.url,
            )

    def _hidden_of(self, klass) -> list:
        return [item for item in self._hidden if isinstance(item, klass)]

    def _write_ics(self, writer, call: Call) -> None:
        siteurl = self.settings["SITEURL"].rstrip("/")
        text = call_closing_ics(
            uid=f"{call.slug}-closes@{siteurl.split('://')[-1] or 'lab'}",
            title=call.title,
            closes=call.closes,
            url=f"{siteurl}/{call.url}",
            stamp=call.metadata.get("modified") or call.opens,
        )
        write_output(writer, call.ics_save_as, None, text.encode)


def _posts(context) -> list:
    """Every post Pelican read: published, hidden and drafts."""
    return [
        *context.get("articles", []),
        *context.get("hidden_articles", []),
        *context.get("drafts", []),
    ]


def _pages(context) -> list:
    """Every page Pelican read: published, hidden and drafts."""
    return [
        *context.get("pages", []),
        *context.get("hidden_pages", []),
        *context.get("draft_pages", []),
    ]


def _path(item) -> str:
    return posixize_path(item.relative_source_path)
