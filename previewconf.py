"""Settings for a reviewer's preview of a pull request (`make preview`, CI).

The production build (publishconf.py) with relative links, so that the built
folder works from any folder or static server: a downloaded CI artifact, a
sub-folder of a server, or (mostly) straight from the disk. README, "Preview,
then publish", says what works where.
"""

import os
import sys

# publishconf.py sits beside this file, wherever Pelican is run from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publishconf import *  # noqa: F403

# Pages link to each other, their stylesheet, scripts, images and the search
# index relative to themselves.
RELATIVE_URLS = True
# The few URLs that must be absolute (feed entries, the sitemap, canonical and
# Open Graph addresses, calendar files) name a local server, never the live
# site: a preview must not send a reviewer, or a search engine, there. Serve
# the preview folder on this address (`python3 -m http.server 8000`) and they
# work too.
SITEURL = os.environ.get("PREVIEW_SITEURL", "http://127.0.0.1:8000").rstrip("/")
# A comment sent from a preview goes to a local endpoint (`make comments-serve`),
# never into the live site's moderation queue.
LAB_COMMENTS_ENDPOINT = (
    os.environ.get("PREVIEW_COMMENTS_ENDPOINT") or "http://127.0.0.1:8001/comments"
)
