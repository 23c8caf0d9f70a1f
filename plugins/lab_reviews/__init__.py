"""lab_reviews: `make review-report` (python -m lab_reviews.report), the list of
items whose review is overdue or due soon, by owner. Not a Pelican plugin: it
reads the site as a build does (see report.py) and writes nothing but its
report."""
