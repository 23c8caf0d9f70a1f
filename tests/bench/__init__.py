"""`make bench`: our build against stock Pelican on the same synthetic posts."""
