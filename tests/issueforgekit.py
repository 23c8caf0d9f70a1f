"""A forge's REST API served on 127.0.0.1 for tests: the part of GitHub's
issues API the review reminder uses (list with state, labels and pages; create;
edit; comment; labels), issues kept in memory, every request recorded.

    with FakeForge(token="t0ken") as forge:
        forge.api        # "http://127.0.0.1:<port>", for GITHUB_API_URL
        forge.issues     # number -> issue (dicts shaped like GitHub's)
        forge.fail = {"PATCH": 502}    # answer this method with that status
        forge.delay = 3.0              # sleep before answering (timeouts)
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = "lab/site"


class FakeForge:
    def __init__(self, token: str, repo: str = REPO, per_page_max: int = 100):
        self.token = token
        self.repo = repo
        self.per_page_max = per_page_max
        self.issues: dict[int, dict] = {}
        self.comments: dict[int, list[str]] = {}
        self.labels: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str]] = []  # method, path, auth
        self.fail: dict[str, int] = {}
        self.fail_message = "Server Error"
        self.delay = 0.0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.forge = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeForge:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_issue(self, title: str, body: str = "", labels=(), pull=False) -> dict:
        """Seeds an issue (or a pull request, which GitHub lists as an issue)
        written by someone else."""
        with self.lock:
            number = max(self.issues, default=0) + 1
            issue = {
                "number": number,
                "title": title,
                "body": body,
                "state": "open",
                "labels": [{"name": name} for name in labels],
                "user": {"login": "someone"},
            }
            if pull:
                issue["pull_request"] = {"url": f"{self.api}/pulls/{number}"}
            self.issues[number] = issue
            return issue

    def writes(self) -> list[tuple[str, str]]:
        """The requests that changed something, as (method, path)."""
        return [(m, p) for m, p, _ in self.requests if m != "GET"]

    def open_issues(self, label: str = "content-review") -> list[dict]:
        return [
            i
            for i in self.issues.values()
            if i["state"] == "open" and label in {x["name"] for x in i["labels"]}
        ]


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeForge/1"

    def log_message(self, *_args) -> None:
        pass

    @property
    def forge(self) -> FakeForge:
        return self.server.forge

    def _answer(self, status: int, body: object = None, link: str = "") -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(data)

    def _payload(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _handle(self, method: str) -> None:
        forge = self.forge
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        payload = self._payload() if method in ("POST", "PATCH") else {}
        forge.requests.append((method, url.path, self.headers.get("Authorization", "")))
        if forge.delay:
            time.sleep(forge.delay)
        if method in forge.fail:
            self._answer(forge.fail[method], {"message": forge.fail_message})
            return
        if self.headers.get("Authorization") != f"Bearer {forge.token}":
            self._answer(401, {"message": "Bad credentials"})
            return
        base = f"/repos/{forge.repo}"
        if not url.path.startswith(base + "/"):
            self._answer(404, {"message": "Not Found"})
            return
        parts = url.path[len(base) + 1 :].split("/")
        with forge.lock:
            self._route(method, parts, query, payload)

    def _route(self, method, parts, query, payload) -> None:
        forge = self.forge
        match method, parts:
            case "GET", ["issues"]:
                self._list(query)
            case "POST", ["issues"]:
                number = max(forge.issues, default=0) + 1
                for name in payload.get("labels", []):
                    forge.labels.setdefault(name, {"name": name})
                forge.issues[number] = {
                    "number": number,
                    "title": payload["title"],
                    "body": payload.get("body", ""),
                    "state": "open",
                    "labels": [{"name": n} for n in payload.get("labels", [])],
                    "user": {"login": "github-actions[bot]"},
                }
                self._answer(201, forge.issues[number])
            case "PATCH", ["issues", number] if int(number) in forge.issues:
                issue = forge.issues[int(number)]
                for key in ("title", "body", "state", "state_reason"):
                    if key in payload:
                        issue[key] = payload[key]
                self._answer(200, issue)
            case "POST", ["issues", number, "comments"] if int(number) in forge.issues:
                forge.comments.setdefault(int(number), []).append(payload["body"])
                self._answer(201, {"body": payload["body"]})
            case "GET", ["labels", name]:
                name = urllib.parse.unquote(name)
                if name in forge.labels:
                    self._answer(200, forge.labels[name])
                else:
                    self._answer(404, {"message": "Not Found"})
            case "POST", ["labels"]:
                forge.labels[payload["name"]] = payload
                self._answer(201, payload)
            case _:
                self._answer(404, {"message": "Not Found"})

    def _list(self, query: dict[str, str]) -> None:
        forge = self.forge
        state = query.get("state", "open")
        wanted = {n for n in query.get("labels", "").split(",") if n}
        found = [
            issue
            for number, issue in sorted(forge.issues.items(), reverse=True)
            if state in ("all", issue["state"])
            and wanted <= {label["name"] for label in issue["labels"]}
        ]
        per_page = min(int(query.get("per_page", 30)), forge.per_page_max)
        page = int(query.get("page", 1))
        shown = found[(page - 1) * per_page : page * per_page]
        link = ""
        if page * per_page < len(found):
            following = dict(query, page=str(page + 1))
            host = self.headers.get("Host")
            link = (
                f"<http://{host}/repos/{forge.repo}/issues?"
                f'{urllib.parse.urlencode(following)}>; rel="next"'
            )
        self._answer(200, shown, link)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")
