"""Issue 15's names, manifest and equal answers: readers' names of every
invisible and confusable class through the endpoint (in-process and on a real
server on 127.0.0.1), the moderation list and approve (in-process and through
make), and the build; the public manifest holds only what the endpoint needs;
a dropped submission answers in the time of a stored one."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import unicodedata

import pytest
import yaml
from commentkit import (
    GOOD,
    SECRET,
    SITE,
    build_fixture,
    call,
    comment,
    fixture_site,
    make_app,
    page_text,
    pending_files,
    thread_of,
)
from conftest import SAMPLE, SAMPLE_SITEURL_DEV
from hypothesis import given
from hypothesis import strategies as st
from siterules import Built, comments_published

from lab_comments import cli, names, schema
from lab_comments.endpoint import CommentsApp, Config, Scratch, parse_staff
from lab_comments.loadtest import form_body, running_server, write_manifest
from lab_comments.plugin import CommentValidationError
from lab_comments.store import Queue, dump_yaml, load_yaml

STAFF = ["Daniel Mensah"]

# (name, the code point the reason names): every class of invisible character.
INVISIBLE = [
    ("\u3164", "U+3164"),  # Hangul filler alone
    ("\u3164 \u3164", "U+3164"),  # fillers around a space
    ("\u115f\u1160", "U+115F"),  # choseong and jungseong fillers
    ("\uffa0", "U+FFA0"),  # half-width Hangul filler
    ("\u2800", "U+2800"),  # Braille blank
    ("\u200b" * 80, "U+200B"),  # 80 zero-width spaces
    ("\u200c", "U+200C"),  # a joiner with nothing to join
    ("a\u200db", "U+200D"),  # a joiner between ASCII letters
    ("\u2060", "U+2060"),  # word joiner
    ("\ufeff", "U+FEFF"),  # byte order mark
    ("\u180e", "U+180E"),  # Mongolian vowel separator
    ("\u180b", "U+180B"),  # Mongolian variation selector
    ("Ada \ufe0f", "U+FE0F"),  # variation selector-16
    ("Ada\U000e0100", "U+E0100"),  # variation selector supplement
    ("Ada\u00adLane", "U+00AD"),  # soft hyphen
    ("Ada\u034fLane", "U+034F"),  # combining grapheme joiner
    ("\U000e0041\U000e0064\U000e0061", "U+E0041"),  # tag characters
    ("\u17b4", "U+17B4"),  # Khmer inherent vowel
    ("\u061c", "U+061C"),  # Arabic letter mark
    ("Ada\u200eLane", "U+200E"),  # left-to-right mark
    ("\u2062", "U+2062"),  # invisible times
    ("\U0001d173", "U+1D173"),  # musical format control
    ("\U0001bca0", "U+1BCA0"),  # shorthand format control
    ("Ada\ue000", "U+E000"),  # private use
    ("\U000f0000", "U+F0000"),  # supplementary private use
    ("Ada\u0378", "U+0378"),  # unassigned
    ("Ada\u200bLane", "U+200B"),  # one invisible inside a name
]
# Names that are nothing but space (NFKC makes each a plain space).
BLANK = ["\u3000", " \u00a0 ", "\u2003\u2002"]
# Names whose skeleton is a staff name's: (name, the staff name it passes for).
CONFUSABLE = [
    ("Daniel Mensah", "Daniel Mensah"),  # the name itself
    ("L\u0430b team", "Lab team"),  # Cyrillic a
    ("D\u0430ni\u0435l \u041c\u0435ns\u0430h", "Daniel Mensah"),  # mostly Cyrillic
    ("L\u03b1b team", "Lab team"),  # Greek alpha
    ("\uff2c\uff41\uff42 \uff54\uff45\uff41\uff4d", "Lab team"),  # full width
    ("\U0001d403\U0001d41a\U0001d427\U0001d422\U0001d41e\U0001d425 Mensah",
     "Daniel Mensah"),  # mathematical bold
    ("\u216eanie\u216c Mensah", "Daniel Mensah"),  # Roman numerals D and L
    ("DanieI Mensah", "Daniel Mensah"),  # capital I for l
    ("DANIEL MENSAH", "Daniel Mensah"),  # case
    ("Lab tearn", "Lab team"),  # rn for m
    ("D\u00e1niel Mensah", "Daniel Mensah"),  # an accent
    ("Daniel  Mensah", "Daniel Mensah"),  # two spaces
    ("Lab\u00a0team", "Lab team"),  # a no-break space
    ("DanielMensah", "Daniel Mensah"),  # no space
    ("Daniel Mensah (Lab)", "Daniel Mensah"),  # the name and more
    ("L a b team", "Lab team"),  # spaced out
    ("1ab team", "Lab team"),  # digit one
    ("|ab team", "Lab team"),  # vertical bar
    ("\u2113ab team", "Lab team"),  # script small l
    ("\u13deab team", "Lab team"),  # Cherokee letter tle
    ("\u0406ab team", "Lab team"),  # Cyrillic capital I
    ("\U0001d4dbab team", "Lab team"),  # mathematical bold script L
    ("\uff4c\uff41\uff42 \uff54\uff45\uff41\uff4d", "Lab team"),  # full width
    ("Lab\u2003team", "Lab team"),  # an em space
    ("Lab.team", "Lab team"),  # punctuation for a space
    ("Dan\u0131el Mensah", "Daniel Mensah"),  # dotless i
    ("Dan\u0456el Mensah", "Daniel Mensah"),  # Cyrillic i
    ("Dan1el Mensah", "Daniel Mensah"),  # digit one for i
    ("Daniel Men\u0455ah", "Daniel Mensah"),  # Cyrillic dze
    ("Daniel Mens\u0251h", "Daniel Mensah"),  # Latin alpha
    ("Daniel Mensa\u04bb", "Daniel Mensah"),  # Cyrillic shha
    ("Daniel Mensah\u0301", "Daniel Mensah"),  # a combining accent
]  # fmt: skip
# Near but not confusable: never flagged.
DISTINCT = ["Dan Mensah", "Daniela Mensah", "Labrador team", "Ada Lane", "Lab"]


def reason(name: str) -> str:
    try:
        schema.name(name)
    except schema.Invalid as exc:
        return str(exc)
    return ""


# -- the pure functions


@pytest.mark.parametrize(("name", "code"), INVISIBLE)
def test_a_name_with_an_invisible_character_is_refused_naming_it(name, code):
    said = names.name_problem(name) or reason(name)
    assert "cannot be seen" in said and f"({code} " in said, said


@pytest.mark.parametrize("name", [n for n, _ in INVISIBLE[:7]])
def test_a_name_only_of_invisible_characters_says_so(name):
    assert "made only of characters that cannot be seen" in names.name_problem(name)


@pytest.mark.parametrize("name", BLANK)
def test_a_name_only_of_space_is_required(name):
    assert reason(name) == "is required"


def test_names_are_normalised_and_joiners_between_letters_that_join_are_kept():
    assert schema.name("\uff21\uff44\uff41  Lane") == "Ada Lane"
    assert schema.name("\ufb01ona") == "fiona"  # the fi ligature
    persian = "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627"
    assert schema.name(persian) == persian
    assert schema.name("Zo\u0065\u0308") == unicodedata.normalize("NFKC", "Zoë")
    # NFKC can make a name longer: the limit holds after it.
    assert "80 characters" in reason("a" * 79 + "\u337b")


def test_every_printable_ascii_character_can_be_seen():
    # name_problem answers a printable ASCII name without the full check
    # (the endpoint's hot path): it must be because none of them is invisible.
    for code in range(0x20, 0x7F):
        char = chr(code)
        for text, index in ((char, 0), (f"a{char}b", 1)):
            assert not names._invisible(text, index), hex(code)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_a_printable_ascii_name_is_judged_as_the_full_check_judges_it(name):
    assert names.name_problem(name) == names._name_problem(name)


def test_skeletons_follow_tr39():
    assert names.skeleton("L\u0430b") == names.skeleton("Lab")
    assert names.skeleton("rn") == names.skeleton("m")
    assert names.skeleton("I") == names.skeleton("l") == names.skeleton("1")
    assert names.skeleton("a\u200bb") == names.skeleton("ab")  # ignorables go
    assert names.skeleton("paypal") != names.skeleton("paypa1l")


@pytest.mark.parametrize(("name", "staff"), CONFUSABLE)
def test_a_name_like_a_staff_name_is_caught(name, staff):
    assert names.impersonates(name, STAFF) == staff


@pytest.mark.parametrize("name", DISTINCT)
def test_a_distinct_name_is_not_caught(name):
    assert names.impersonates(name, STAFF) is None


# -- through the endpoint


@pytest.fixture
def desk(tmp_path):
    """An endpoint whose manifest names STAFF, and the CLI beside it."""
    app = make_app(tmp_path)
    write_manifest(app.config.manifest, SITE, {"a-post": {}}, staff=STAFF)
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(tmp_path / "content" / "comments"),
    }
    return app, tmp_path / "content" / "comments", environ


@pytest.mark.parametrize(("name", "code"), INVISIBLE)
def test_the_endpoint_refuses_an_invisible_name_with_a_reason(desk, name, code):
    app, _, _ = desk
    answer = call(app, body={**GOOD, "name": name})
    assert answer.status == 400
    text = page_text(answer)
    # In the form's words (issue 14), not "Your name (name): ".
    assert "Your name " in text and "cannot be seen" in text and code in text
    assert "(name)" not in text
    assert pending_files(app) == []


@pytest.mark.parametrize("name", BLANK)
def test_the_endpoint_refuses_a_blank_name(desk, name):
    answer = call(desk[0], body={**GOOD, "name": name})
    assert answer.status == 400 and "Enter your name" in page_text(answer)


def test_the_endpoint_stores_a_name_normalised(desk):
    app, _, _ = desk
    call(app, body={**GOOD, "name": "\uff21\uff44\uff41\u3000Lane"})
    (path,) = pending_files(app)
    assert load_yaml(path.read_bytes())["name"] == "Ada Lane"


def test_list_flags_every_confusable_name_and_approve_needs_the_override(desk, capsys):
    app, content, environ = desk
    ids = {}
    for index, (name, _) in enumerate([*CONFUSABLE, *((n, None) for n in DISTINCT)]):
        assert (
            call(app, body={**GOOD, "name": name, "body": f"Hi {index}"}).status == 303
        )
        (ids[name],) = {p.stem for p in pending_files(app)} - set(ids.values())
    assert cli.main(["list"], environ=environ) == 0
    out = capsys.readouterr().out
    blocks = {block.split()[0]: block for block in out.split("\n\n") if block.strip()}
    for name, staff in CONFUSABLE:
        assert f"NAME LOOKS LIKE STAFF: {staff!r}" in blocks[ids[name]], name
    for name in DISTINCT:
        assert "NAME LOOKS LIKE STAFF" not in blocks[ids[name]], name
    for name, staff in CONFUSABLE:
        assert cli.main(["approve", ids[name]], environ=environ) == 1
        err = capsys.readouterr().err
        assert f"looks like {staff!r}" in err and "--override-name" in err
        assert app.queue.path(ids[name]).exists()
    for name, _ in CONFUSABLE:
        argv = ["approve", ids[name], "--override-name"]
        assert cli.main(argv, environ=environ) == 0
        record = load_yaml((content / "a-post" / f"{ids[name]}.yaml").read_bytes())
        assert record["name"] == names.normalise_name(name)
        assert "staff" not in record
    for name in DISTINCT:
        assert cli.main(["approve", ids[name]], environ=environ) == 0


def test_a_queued_invisible_name_is_listed_as_unreadable_and_can_be_rejected(
    desk, capsys
):
    """A comment queued before names were checked: listed with the reason,
    never approved, and rejected like any other."""
    app, _, environ = desk
    assert call(app, body=GOOD).status == 303
    (path,) = pending_files(app)
    record = load_yaml(path.read_bytes())
    path.write_bytes(dump_yaml({**record, "name": "\u3164"}))
    assert cli.main(["list"], environ=environ) == 0
    out = capsys.readouterr().out
    assert path.stem in out and "cannot be seen (U+3164 HANGUL FILLER)" in out
    assert cli.main(["approve", path.stem], environ=environ) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert cli.main(["reject", path.stem], environ=environ) == 0
    assert pending_files(app) == []


def test_without_a_manifest_lab_team_is_still_compared(desk, capsys):
    app, _, environ = desk
    call(app, body={**GOOD, "name": "L\u0430b team"})
    (pending,) = pending_files(app)
    app.config.manifest.unlink()
    assert cli.main(["approve", pending.stem], environ=environ) == 1
    assert "looks like 'Lab team'" in capsys.readouterr().err


def test_the_make_targets_flag_and_need_override(make_repo, tmp_path):
    repo, make = make_repo(SAMPLE)
    app = make_app(tmp_path / "endpoint")
    app.queue = Queue(repo / "comments-queue").open()  # the repository's queue
    assert call(app, body={**GOOD, "name": "L\u0430b team"}).status == 303
    (pending,) = pending_files(app)
    listed = make("comments-list")
    assert "NAME LOOKS LIKE STAFF: 'Lab team'" in listed.stdout, listed.stderr
    refused = make("comments-approve", f"ID={pending.stem}")
    assert refused.returncode != 0 and "OVERRIDE=1" in refused.stderr
    approved = make("comments-approve", f"ID={pending.stem}", "OVERRIDE=1")
    assert approved.returncode == 0, approved.stderr


def test_a_real_server_refuses_invisible_names_and_takes_confusable_ones(tmp_path):
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}}, staff=STAFF)
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "served-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "1000",
        "LAB_COMMENTS_POST_HOURLY": "1000",
    }
    import http.client

    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}
    cases = [(n, 400) for n, _ in INVISIBLE] + [(n, 400) for n in BLANK]
    cases += [(n, 303) for n, _ in CONFUSABLE]
    with running_server(environ, tmp_path / "server.log") as server:
        for index, (name, status) in enumerate(cases):
            connection = http.client.HTTPConnection(
                "127.0.0.1", server.port, timeout=10
            )
            fields = {**GOOD, "name": name, "body": f"Comment {index}"}
            connection.request("POST", "/comments", form_body(fields), headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8")
            connection.close()
            assert response.status == status, (name, body)
            if status == 400:
                assert "Your name" in body and "Traceback" not in body
    stored = sorted((tmp_path / "queue" / "pending").glob("*.yaml"))
    assert len(stored) == len(CONFUSABLE)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


# -- through the build


def test_the_build_refuses_a_published_invisible_name_naming_the_file(tmp_path):
    records = [
        comment(f"c-{index}", name=name) for index, (name, _) in enumerate(INVISIBLE)
    ]
    content = fixture_site(tmp_path, [])
    for record in records:
        # Written as a hand edit would be: the store's own checks do not run.
        path = content / "comments" / record["post"] / f"{record['id']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(record), encoding="utf-8")
    with pytest.raises(CommentValidationError) as caught:
        build_fixture(content, tmp_path / "out")
    message = str(caught.value)
    for index, (_, code) in enumerate(INVISIBLE):
        line = next(
            line
            for line in message.splitlines()
            if line.startswith(f"comments/a-published-post/c-{index}.yaml: name: ")
        )
        assert "cannot be seen" in line and code in line, line


def test_the_build_shows_names_normalised(tmp_path):
    content = fixture_site(
        tmp_path,
        [
            comment("c-wide", name="\uff27\uff52\uff41\uff43\uff45 Ho"),
            comment("c-like", name="L\u0430b team"),  # approved with override
        ],
    )
    output = tmp_path / "output"
    assert build_fixture(content, output).messages() == []
    shown = {ident: name for _, ident, name in thread_of(
        output / "updates/2025/a-published-post/index.html")}  # fmt: skip
    # Shown as written (normalised), and not as staff.
    assert shown == {"c-wide": "Grace Ho", "c-like": "L\u0430b team"}


# -- the manifest


def test_the_manifest_holds_only_what_the_endpoint_needs(tmp_path):
    content = fixture_site(tmp_path, [comment("c-h", post="a-hidden-post")])
    (content / "posts" / "2025-06-01-hidden.md").write_text(
        "---\ntitle: A secret hidden title\nslug: a-hidden-post\n"
        "date: 2025-06-01T10:00:00+01:00\nauthors: [ada-lane]\ncategory: Research\n"
        "summary: Hidden.\nstatus: hidden\n---\nText.\n",
        encoding="utf-8",
    )
    output = tmp_path / "output"
    assert build_fixture(content, output).messages() == []
    data = (output / "comments-manifest.json").read_bytes()
    manifest = json.loads(data)
    assert set(manifest) == {"version", "siteurl", "posts", "staff", "challenges"}
    # The challenges a reader may follow: the site's, each with its page.
    assert manifest["challenges"] == sorted(
        p.parent.name for p in (output / "challenges").glob("*/index.html")
    )
    assert "a-hidden-post" not in manifest["posts"]
    assert b"hidden" not in data.lower() and b"title" not in data
    assert all(set(p) == {"url", "open", "closes", "comments"}
               for p in manifest["posts"].values())  # fmt: skip
    # The staff names, as the author pages show them already.
    assert parse_staff(data) == ("Ada Lane", "Ben Cole", "Cara D\u00edaz")
    # The hidden post's page says comments are closed (the endpoint would
    # refuse them), and the endpoint refuses one sent anyway.
    page = output / "updates/2025/a-hidden-post/index.html"
    assert "Comments are closed on this update" in page.read_text()
    app = CommentsApp(
        Config(queue=tmp_path / "queue", manifest=output / "comments-manifest.json",
               secret=SECRET)
    )  # fmt: skip
    headers = {"Origin": SAMPLE_SITEURL_DEV}
    answer = call(app, body={**GOOD, "post": "a-hidden-post"}, headers=headers)
    assert answer.status == 400
    assert "The update you are commenting on is not on the site" in page_text(answer)
    # The site rule that checks every build agrees, and catches a title or a
    # hidden post put back.
    built = Built(output, SAMPLE_SITEURL_DEV, content, ())
    assert comments_published(built) == []
    manifest["posts"]["a-hidden-post"] = {**manifest["posts"]["an-ideas-post"]}
    manifest["posts"]["an-ideas-post"]["title"] = "An ideas post"
    (output / "comments-manifest.json").write_text(json.dumps(manifest))
    problems = comments_published(built)
    assert "comments-manifest.json: an-ideas-post: ['title']" in problems
    assert "comments-manifest.json: lists a-hidden-post, a hidden post" in problems


# -- equal answers


def test_a_dropped_submission_answers_in_the_time_of_a_stored_one(tmp_path):
    """Medians of many answers of each kind, sent in random order: a filled
    honeypot (dropped) and a new comment (stored) are within noise of each
    other, and neither is systematically the faster."""
    app = make_app(tmp_path)
    stored, dropped = [], []
    kinds = ["stored"] * 80 + ["dropped"] * 80
    random.Random(15).shuffle(kinds)  # noqa: S311 (an order, not a secret)
    for index in range(5):  # the endpoint has seen some comments
        call(app, body={**GOOD, "body": f"Warm-up {index}"})
    for index, kind in enumerate(kinds):
        fields = {**GOOD, "body": f"Comment number {index}."}
        if kind == "dropped":
            fields["subject"] = "buy now"
        started = time.perf_counter()
        answer = call(app, body=fields)
        took = (time.perf_counter() - started) * 1000
        assert answer.status == 303
        (stored if kind == "stored" else dropped).append(took)
    assert len(pending_files(app)) == 85
    # Within noise: the medians differ by less than half the spread of the
    # answers (and half a millisecond for the clock); today's code answers a
    # drop in a tenth of the time of a store.
    median_stored, median_dropped = (
        statistics.median(stored),
        statistics.median(dropped),
    )
    low, _, high = statistics.quantiles(stored + dropped, n=4)
    assert abs(median_stored - median_dropped) < 0.5 + 0.5 * (high - low), (
        median_stored,
        median_dropped,
        high - low,
    )
    # How often a dropped answer is the faster of a pair: 0.5 for one
    # distribution; today's code gives 1.0.
    faster = sum(d < s for d in dropped for s in stored) / (len(dropped) * len(stored))
    assert 0.3 < faster < 0.7, faster


def test_a_burst_of_drops_leaves_no_scratch_file_and_no_thread(tmp_path, monkeypatch):
    """The decoys' scratch files are removed after their answers by one
    thread, started once for a burst (never one per drop: starting a thread
    made drops the slower answers on a loaded machine), which ends when it
    has had nothing to do for a while."""
    # Longer than a drop takes on a loaded machine (its decoy is written
    # with two fsyncs): the thread must not end between two drops.
    monkeypatch.setattr(Scratch, "IDLE", 3)
    started = []
    real_start = threading.Thread.start

    def counted(thread):
        if thread.name == "lab-comments-scratch":
            started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    app = make_app(tmp_path)
    for index in range(30):
        fields = {**GOOD, "body": f"Spam {index}.", "subject": "buy now"}
        assert call(app, body=fields).status == 303
    assert len(started) == 1
    started[0].join(timeout=10)
    assert not started[0].is_alive()
    assert list(app.queue.pending_dir.iterdir()) == []
    # Work after it ended starts it again.
    assert call(app, body={**GOOD, "subject": "again"}).status == 303
    assert len(started) == 2


def test_a_floor_holds_every_answer(tmp_path):
    app = make_app(tmp_path, min_answer_ms=30)
    for fields in ({**GOOD}, {**GOOD, "subject": "x"}, {**GOOD}):  # new, drop, dup
        started = time.perf_counter()
        assert call(app, body=fields).status == 303
        assert time.perf_counter() - started >= 0.03
