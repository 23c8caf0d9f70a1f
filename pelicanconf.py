"""Settings for working on the site locally: relative links, served on 127.0.0.1.

publishconf.py imports everything here and overrides what production needs.
Plugin settings (LAB_*) and their defaults are listed in plugins/README.md.
"""

import os
import sys

# Pelican loads each plugin from PLUGIN_PATHS by itself; the folder also goes on
# the import path so that plugins can share code (lab_common).
_PLUGINS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
if _PLUGINS_DIR not in sys.path:
    sys.path.insert(0, _PLUGINS_DIR)

AUTHOR = "The Improvement Lab"
SITENAME = "The Improvement Lab"
# Absolute base for the few places that need one even locally (sitemap,
# robots.txt, feeds, calendar files); pages themselves link relatively.
SITEURL = os.environ.get("SITEURL", "http://127.0.0.1:8000").rstrip("/")
RELATIVE_URLS = True

PATH = "content"
THEME = "theme"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en-GB"
LOCALE = ("en_GB.UTF-8", "C.UTF-8", "C")

PLUGIN_PATHS = ["plugins"]
# Order matters: lab_content must run before the plugins that read what it derives.
PLUGINS = [
    "lab_content",
    "lab_feeds",
    "lab_social",
    "lab_comments",
    # Old addresses (redirect_from) keep working: pages and redirect maps.
    "lab_redirects",
    "lab_sitemap",
    "lab_assets",
    # Last: it renders the pages every plugin before it has asked for.
    "lab_writer",
]

# Content folders: posts are articles, the rest are read by lab_content.
ARTICLE_PATHS = ["posts"]
PAGE_PATHS = ["pages"]
STATIC_PATHS = ["images", "extra"]
EXTRA_PATH_METADATA = {
    "extra/favicon.ico": {"path": "favicon.ico"},
}
# authors.yaml and comment files are read by our plugins; Pelican reads only
# Markdown, and its watcher must see every file so devserver rebuilds on each.
IGNORE_FILES = [".*", "__pycache__"]

# "Today" comes from lab_content (SOURCE_DATE_EPOCH or the build time), which
# keeps future-dated posts unpublished; Pelican's own check reads the clock.
WITH_FUTURE_DATES = True
# Drafts are never written anywhere, not even to a drafts/ folder.
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""

# Pretty URLs: every page is a folder with an index.html.
ARTICLE_URL = "updates/{date:%Y}/{slug}/"
ARTICLE_SAVE_AS = "updates/{date:%Y}/{slug}/index.html"
ARTICLE_LANG_URL = "updates/{date:%Y}/{slug}-{lang}/"
ARTICLE_LANG_SAVE_AS = "updates/{date:%Y}/{slug}-{lang}/index.html"
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
PAGE_LANG_URL = "{slug}-{lang}/"
PAGE_LANG_SAVE_AS = "{slug}-{lang}/index.html"
CATEGORY_URL = "updates/category/{slug}/"
CATEGORY_SAVE_AS = "updates/category/{slug}/index.html"
TAG_URL = "updates/tag/{slug}/"
TAG_SAVE_AS = "updates/tag/{slug}/index.html"
AUTHOR_URL = "authors/{slug}/"
AUTHOR_SAVE_AS = "authors/{slug}/index.html"

# "home" is the front page; "index" is the paginated list of all updates.
DIRECT_TEMPLATES = [
    "home",
    "index",
    "tags",
    "categories",
    "authors",
    "archives",
    "search",
]
HOME_URL = ""
HOME_SAVE_AS = "index.html"
INDEX_URL = "updates/"
INDEX_SAVE_AS = "updates/index.html"
TAGS_URL = "updates/tags/"
TAGS_SAVE_AS = "updates/tags/index.html"
CATEGORIES_URL = "updates/categories/"
CATEGORIES_SAVE_AS = "updates/categories/index.html"
AUTHORS_URL = "authors/"
AUTHORS_SAVE_AS = "authors/index.html"
ARCHIVES_URL = "updates/archives/"
SEARCH_URL = "search/"
SEARCH_SAVE_AS = "search/index.html"
ARCHIVES_SAVE_AS = "updates/archives/index.html"
YEAR_ARCHIVE_URL = "updates/{date:%Y}/"
YEAR_ARCHIVE_SAVE_AS = "updates/{date:%Y}/index.html"
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""

# Ten updates a page in the main list; twenty on tag, category and author pages,
# which readers scan rather than read (and which a large site has many of).
DEFAULT_PAGINATION = 10
PAGINATED_TEMPLATES = {"index": 10, "tag": 20, "category": 20, "author": 20}
PAGINATION_PATTERNS = (
    (1, "{url}", "{save_as}"),
    (2, "{base_name}/page/{number}/", "{base_name}/page/{number}/index.html"),
)

# Feeds: lab_feeds writes every feed (RSS, Atom, JSON Feed) with feedgen, so
# all of Pelican's own feed settings are off.
FEED_ATOM = None
FEED_RSS = None
FEED_ALL_ATOM = None
FEED_ALL_RSS = None
CATEGORY_FEED_ATOM = None
CATEGORY_FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TAG_FEED_ATOM = None
TAG_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None
LAB_FEEDS_MAX_ITEMS = 20
LAB_FEEDS_SUMMARY_ONLY = False
LAB_FEEDS_TAG_AUTHORITY = "lab.example.org"
LAB_FEEDS_TAG_YEAR = "2025"

# Markdown for staff-written content. Listed explicitly because Pelican's
# default ("extra") includes attribute lists, which let any element carry any
# attribute, event handlers included.
MARKDOWN = {
    "extensions": [
        "markdown.extensions.abbr",
        "markdown.extensions.def_list",
        "markdown.extensions.fenced_code",
        "markdown.extensions.footnotes",
        "markdown.extensions.tables",
        "markdown.extensions.toc",
    ],
    "extension_configs": {
        "markdown.extensions.codehilite": {
            "css_class": "lab-code",
            "guess_lang": False,
        },
    },
    "output_format": "html",
}
# Only the keys below are Markdown in front matter.
FORMATTED_FIELDS = ["summary"]
SUMMARY_MAX_LENGTH = 50

# Site furniture, read by the theme.
LAB_SITE_DESCRIPTION = (
    "The Improvement Lab brings people together to make progress on complex "
    "challenges in health and care. We are in our pilot year."
)
LAB_PHASE_BANNER = (
    "This is a pilot: the Lab is trying out a new way of working, and so is this site."
)
LAB_SOCIAL_ACCOUNT = {
    "name": "@improvementlab",
    "url": "https://social.example/@improvementlab",
}
LAB_CONTACT_EMAIL = "lab@example.org"
LAB_CATEGORIES = ["Announcements", "Research", "Ideas", "Testing", "Learning"]

# Reviews (lab_content; README: front matter reference): how often each kind of
# item is checked, unless its front matter says otherwise. Standing pages and
# challenges carry advice and plans that go stale; posts are news of their day
# and calls close, so they have no cycle.
LAB_REVIEW_EVERY = {
    "page": "12 months",
    "challenge": "6 months",
    "post": None,
    "call": None,
}
# An overdue review warns in `make check` ("fail" would fail it); readers see
# no difference either way, and `make review-report` tells the owners.
LAB_REVIEW_OVERDUE = "warn"

# Sharing (lab_social): the site's X/Twitter account for twitter:site. Card images
# are drawn once and kept between builds in .cache/, outside output/ (which a build
# replaces), next to this file whatever the working directory.
LAB_TWITTER_SITE = "@improvementlab"
LAB_SOCIAL_CACHE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), ".cache", "lab_social"
)

# Comments (lab_comments): approved comments live in content/comments/; the form
# posts to the endpoint (`make comments-serve`, also started by `make devserver`).
# The Makefile names the local endpoint (COMMENTS_PORT=, default 8001) in the
# environment; publishconf.py takes the production endpoint from it too.
LAB_COMMENTS_ENDPOINT = (
    os.environ.get("LAB_COMMENTS_ENDPOINT") or "http://127.0.0.1:8001/comments"
)
LAB_COMMENTS_MAX_DEPTH = 3
LAB_COMMENTS_CLOSE_AFTER_DAYS = 0

# Every value a template prints is escaped unless it is marked trusted
# (Markup): content and summaries (lab_content), comment bodies (sanitised by
# lab_comments), JSON-LD (serialised for a <script> by lab_social); Pelican's
# default leaves escaping to each template. Templates are read once per build:
# Jinja's default re-checks every included template's file on every page (a
# stat call each), which a build never needs.
JINJA_ENVIRONMENT = {
    "autoescape": True,
    "auto_reload": False,
    # The theme's indentation is for its editors, not its readers.
    "extensions": ["lab_content.dedent.Dedent"],
}
# ... and compiled once for many builds (lab_content keeps them here).
LAB_TEMPLATE_CACHE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), ".cache", "jinja"
)

# Settings the theme reads (Pelican passes every upper-case setting).
DEFAULT_DATE_FORMAT = "%-d %B %Y"
DISPLAY_PAGES_ON_MENU = False
DISPLAY_CATEGORIES_ON_MENU = False

# Local builds rewrite output in place; publishconf.py starts from empty.
DELETE_OUTPUT_DIRECTORY = False
# Pelican's content cache and lab_writer's record of what each page was made
# from, next to this file whatever the working directory. Only in-place
# rebuilds switch them on (`make regenerate` and `make devserver`: see
# INPLACEOPTS in the Makefile); `make clean` removes them.
CACHE_CONTENT = False
CACHE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), ".cache", "pelican"
)
