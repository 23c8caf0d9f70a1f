"""Importers that bring another site's content into this site's own format.

Not a Pelican plugin (nothing to register): a command run once by a Lab's
staff, `make import-wordpress` (wordpress.py). It writes content files that
the build then checks like any other.
"""
