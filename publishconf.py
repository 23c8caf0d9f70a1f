"""Settings for the production build (`make publish` and CI).

Everything from pelicanconf.py, with absolute URLs from the SITEURL environment
variable and an output folder that starts empty.
"""

import os
import sys

# pelicanconf.py sits beside this file, wherever Pelican is run from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pelicanconf import *  # noqa: F403

SITEURL = os.environ.get("SITEURL", "https://lab.example.org").rstrip("/")
RELATIVE_URLS = False
DELETE_OUTPUT_DIRECTORY = True
# The comments endpoint the form posts to: its own host, since the site itself is
# static (see README, "Comments and moderation").
LAB_COMMENTS_ENDPOINT = (
    os.environ.get("LAB_COMMENTS_ENDPOINT")
    or "https://comments.lab.example.org/comments"
)
