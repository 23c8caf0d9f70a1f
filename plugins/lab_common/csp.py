"""The pages' Content-Security-Policy, gathered from the plugins that need a
source beyond the site's own (the comment endpoint, as a form's action), and
written by the theme as a <meta http-equiv> element at the top of <head>.

A plugin adds what its pages need while the build sets up, before any page is
rendered:

    csp.allow(context, "form-action", "https://comments.example.org")

and the theme writes `{{ LAB_CSP }}` (a Policy: its text is the policy).
A meta element cannot carry frame-ancestors, report-to or sandbox; a server
that can send headers should send the same policy with those added
(README: "Publishing")."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from urllib.parse import urlsplit

# The context entry that holds the build's Policy.
CONTEXT_KEY = "LAB_CSP"

# The site's own files only. Scripts: our bundles and Pagefind's, whose search
# index is WebAssembly ('wasm-unsafe-eval' allows compiling it, not eval of
# text). Images: the site's own, and data: for none. Forms: the site's own
# search; plugins add where else forms post.
BASE: Mapping[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "script-src": ("'self'", "'wasm-unsafe-eval'"),
    "style-src": ("'self'",),
    "img-src": ("'self'",),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "manifest-src": ("'self'",),
    "form-action": ("'self'",),
    "base-uri": ("'none'",),
    "object-src": ("'none'",),
}


class Policy:
    """Directives and their sources, in a stable order; str() is the policy."""

    def __init__(self):
        self.directives: dict[str, list[str]] = {k: list(v) for k, v in BASE.items()}

    def allow(self, directive: str, source: str) -> None:
        if directive not in self.directives:
            raise ValueError(f"{directive}: not a directive this policy sets")
        sources = self.directives[directive]
        if source not in sources:
            sources.append(source)

    def __str__(self) -> str:
        return "; ".join(
            f"{name} {' '.join(sources)}" for name, sources in self.directives.items()
        )

    def __repr__(self) -> str:
        return f"Policy({str(self)!r})"


def policy(context: MutableMapping) -> Policy:
    """The build's policy (made on first use: each build's context is new)."""
    found = context.get(CONTEXT_KEY)
    if not isinstance(found, Policy):
        found = context[CONTEXT_KEY] = Policy()
    return found


def allow(context: MutableMapping, directive: str, url: str) -> None:
    """Allow the origin of `url` (scheme://host[:port]) for `directive`."""
    policy(context).allow(directive, origin(url))


def origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r}: not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}".lower()
