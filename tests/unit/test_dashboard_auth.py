"""Login, roles and what each role sees (R4), and the review queue (R1-R2) of the dashboard: the
pure parts directly, the web shell on real loopback servers with real Argon2 hashes."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from pipeline.config import load_settings
from pipeline.dashboard.auth import Limiter, Principal, Sessions
from pipeline.dashboard.decisions import OUTBOX_KEY, Refused, check_decision, decision_event, parse_decision
from pipeline.dashboard.login import PUBLIC_ROUTES, Users
from pipeline.dashboard.server import start
from pipeline.dashboard.state import Bounds, DashboardState, Decidable, View
from pipeline.dashboard.users import UserFile, UsersError, verify_password
from tests.unit.dashboard_helpers import PASSWORD, USERS, copy_users_file, csrf_of, log_in, users_file
from tests.unit.test_dashboard_state import escalation, violation

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- records for the review queue


def content_violation(i, group="g-fin", label="ad", review="required", ts="2026-03-02T09:40:00+08:00",
                      member="u-xw", score=0.7, rule="P4"):
    return {**violation(i, rule=rule, group=group, ts=ts, member=member), "review": review,
            "group_name": f"群-{group}", "evidence": {"event_ids": [f"e-{i}"], "label": label, "score": score,
                                                      "reasons": [f"model: {label} {score:.2f}"], "message_id": f"m-{i}"}}


def review_record(violation_id, decision="dismissed", new_label="work", group="g-fin", reviewer="sup"):
    return {"kind": "review", "id": f"rev-{violation_id}-{decision}", "group_id": group,
            "ts": "2026-03-02T12:00:00+08:00", "violation_id": violation_id, "decision": decision, "old_label": "ad",
            "new_label": new_label, "reviewer": {"id": reviewer, "name": f"名-{reviewer}"}, "note": "checked",
            "outcome": "retracted"}


# --------------------------------------------------------------------------- the users file


def test_users_file_keeps_argon2id_hashes_only_readable_by_its_owner(tmp_path):
    users = UserFile(tmp_path / "var" / "users.json")
    assert users.load() == {}
    users.add("alice", "supervisor", [], "a long password 1", display_name="合规-Alice")
    users.add("bob", "admin", ["g-fin", "g-apollo", "g-fin"], "a long password 2")
    raw = users.path.read_bytes()
    assert b"a long password" not in raw and raw.count(b"$argon2id$") == 2
    assert users.path.stat().st_mode & 0o777 == 0o600
    found = users.load()
    assert found["bob"].groups == ("g-fin", "g-apollo") and found["alice"].display_name == "合规-Alice"
    assert verify_password(found["alice"], "a long password 1")
    assert not verify_password(found["alice"], "a long password 2")
    assert not verify_password(None, "a long password 1")            # an unknown user never passes
    assert "password_hash" not in found["alice"].public()
    users.passwd("alice", "a new long password")
    assert verify_password(users.load()["alice"], "a new long password")
    users.remove("bob")
    assert set(users.load()) == {"alice"}


@pytest.mark.parametrize("name, role, groups, password, message", [
    ("../evil", "auditor", [], PASSWORD, "not allowed"),
    ("", "auditor", [], PASSWORD, "not allowed"),
    ("carol", "root", [], PASSWORD, "unknown role"),
    ("carol", "admin", [], PASSWORD, "needs --groups"),
    ("carol", "owner", [" ", ""], PASSWORD, "needs --groups"),
    ("carol", "supervisor", ["g-fin"], PASSWORD, "only for admin and owner"),
    ("carol", "admin", ["g\nx"], PASSWORD, "not allowed"),
    ("carol", "auditor", [], "short", "at least 10"),
    ("carol", "auditor", [], "x" * 2000, "at most"),
])
def test_users_file_refuses_what_it_cannot_use(tmp_path, name, role, groups, password, message):
    with pytest.raises(UsersError, match=message):
        UserFile(tmp_path / "users.json").add(name, role, groups, password)
    assert not (tmp_path / "users.json").exists()


def test_a_user_is_added_once(tmp_path):
    users = UserFile(tmp_path / "users.json")
    users.add("alice", "auditor", [], PASSWORD)
    with pytest.raises(UsersError, match="exists"):
        users.add("alice", "supervisor", [], PASSWORD)
    with pytest.raises(UsersError, match="no user"):
        users.remove("nobody")


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"version": 2, "users": {}}',
                                     b'{"version": 1, "users": {"x": {"role": "admin", "groups": [], "password_hash": "$argon2id$x"}}}',
                                     b'{"version": 1, "users": {"x": {"role": "auditor", "password_hash": "plain"}}}'])
def test_a_broken_users_file_lets_nobody_in_and_says_why(tmp_path, content):
    path = tmp_path / "users.json"
    path.write_bytes(content)
    users = Users(UserFile(path))
    assert users.current() == {} and users.error and str(path) in users.error


def test_the_users_command_reads_the_password_from_stdin_and_never_prints_it(tmp_path):
    env = {**os.environ, "MODERATION_DASHBOARD_USERS_FILE": str(tmp_path / "u.json")}

    def users(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "pipeline.cli", "users", *args], input=stdin, env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    first = users("list")
    assert first.returncode == 0 and "moderation users add" in first.stdout
    added = users("add", "lee", "--role", "admin", "--groups", "g-fin,g-hr", stdin="secret horse staple\n")
    assert added.returncode == 0, added.stderr
    assert "lee (admin: g-fin, g-hr)" in added.stdout
    listed = users("list")
    assert "lee  admin" in listed.stdout and "g-fin, g-hr" in listed.stdout and "argon2" not in listed.stdout
    for result in (added, listed):
        assert "secret horse staple" not in result.stdout + result.stderr
    assert b"secret horse staple" not in (tmp_path / "u.json").read_bytes()
    refused = users("add", "kim", "--role", "owner", stdin="secret horse staple\n")
    assert refused.returncode == 2 and "needs --groups" in refused.stderr
    assert users("passwd", "lee", stdin="another horse staple\n").returncode == 0
    assert verify_password(UserFile(tmp_path / "u.json").load()["lee"], "another horse staple")
    assert users("remove", "lee").returncode == 0 and "lee" not in users("list").stdout


# --------------------------------------------------------------------------- sessions and limits (pure)


def _user(name="alice", role="supervisor", groups=()):
    from pipeline.dashboard.users import User

    return User(name, role, tuple(groups), name, f"$argon2id$hash-of-{name}", "")


def test_sessions_end_after_their_lifetime_and_when_idle():
    alice = _user()
    users = {"alice": alice}
    sessions = Sessions(lifetime=100, idle=30, cap=10)
    s = sessions.start(alice, now=0)
    assert sessions.get(s.token, users, 20)[0] is s
    assert sessions.get(s.token, users, 45) is not None          # used at 20: idle only 25 s
    assert sessions.get(s.token, users, 76) is None              # 31 s idle: ended
    assert sessions.get(s.token, users, 77) is None              # and stays ended
    s = sessions.start(alice, now=0)
    for t in range(10, 101, 10):                                 # used every 10 s ...
        assert sessions.get(s.token, users, t) is not None
    assert sessions.get(s.token, users, 101) is None             # ... still ends at its lifetime


def test_a_live_stream_does_not_keep_a_session_from_going_idle():
    alice = _user()
    sessions = Sessions(lifetime=1000, idle=30, cap=10)
    s = sessions.start(alice, now=0)
    for t in range(5, 30, 5):
        assert sessions.get(s.token, {"alice": alice}, t, touch=False) is not None
    assert sessions.get(s.token, {"alice": alice}, 31, touch=False) is None


def test_a_session_ends_when_its_user_is_removed_or_changed():
    alice = _user()
    sessions = Sessions(lifetime=1000, idle=1000, cap=10)
    s = sessions.start(alice, now=0)
    assert sessions.get(s.token, {}, 1) is None                                      # removed
    s = sessions.start(alice, now=0)
    assert sessions.get(s.token, {"alice": dataclasses.replace(alice, password_hash="$argon2id$new")}, 1) is None
    s = sessions.start(alice, now=0)
    assert sessions.get(s.token, {"alice": dataclasses.replace(alice, role="auditor")}, 1) is None
    s = sessions.start(alice, now=0)
    assert sessions.get(s.token, {"alice": alice}, 1) is not None


def test_sessions_are_bounded_and_tokens_are_unguessable():
    alice = _user()
    sessions = Sessions(lifetime=1000, idle=1000, cap=3)
    tokens = [sessions.start(alice, now=i).token for i in range(5)]
    assert len(sessions) == 3 and sessions.ended == 2
    assert sessions.get(tokens[0], {"alice": alice}, 6) is None and sessions.get(tokens[4], {"alice": alice}, 6)
    assert len(set(tokens)) == 5 and all(len(t) >= 43 for t in tokens)      # 256 random bits each
    assert sessions.get("x" * 500, {"alice": alice}, 6) is None and sessions.get(None, {}, 6) is None


def test_the_limiter_counts_failures_in_a_sliding_window():
    limits = Limiter(limit=3, window=60, cap=100)
    for t in (0, 10, 20):
        assert limits.wait("alice", t) == 0
        limits.fail("alice", t)
    assert limits.wait("alice", 30) == 30                 # until the first failure is 60 s old
    assert limits.wait("bob", 30) == 0                    # other keys are not touched
    assert limits.wait("alice", 60) == 0                  # the first one left the window
    limits.fail("alice", 60)
    assert limits.wait("alice", 61) == 9
    limits.forgive("alice")
    assert limits.wait("alice", 61) == 0
    limits.clear("alice")
    assert limits.wait("alice", 61) == 0


def test_the_limiter_remembers_a_bounded_number_of_keys():
    limits = Limiter(limit=1, window=60, cap=100)
    for i in range(1000):
        limits.fail(f"10.0.{i // 256}.{i % 256}", 0)
    assert len(limits._keys) == 100 and limits.wait("10.0.3.231", 1) > 0


def test_roles_decide_scope_and_deciding():
    assert Principal.of(_user(role="supervisor")).scope is None
    assert Principal.of(_user(role="compliance")).can_decide
    auditor = Principal.of(_user(role="auditor"))
    assert auditor.scope is None and not auditor.can_decide
    admin = Principal.of(_user(role="admin", groups=("g-fin",)))
    assert admin.scope == frozenset({"g-fin"}) and admin.can_decide
    assert admin.sees("g-fin") and not admin.sees("g-apollo") and not admin.sees(None)


# --------------------------------------------------------------------------- the review queue (pure)


def test_the_queue_holds_review_band_violations_oldest_first_until_their_review_arrives():
    state = DashboardState()
    state.apply(content_violation(1, ts="2026-03-02T11:00:00+08:00"))
    state.apply(content_violation(2, ts="2026-03-02T09:00:00+08:00", label="rumour", rule="P3"))
    state.apply(content_violation(3, review="none", label="abuse"))          # acted at once: not in the queue
    state.apply(violation(4))                                                # not a content violation
    state.apply(content_violation(5, group="g-apollo", ts="2026-03-02T10:00:00+08:00"))
    queue = state.snapshot()["reviews"]
    assert [i["id"] for i in queue["items"]] == ["vio-2", "vio-5", "vio-1"]
    assert queue["waiting"] == 3 and queue["groups"] == {"g-fin": 2, "g-apollo": 1}
    assert queue["labels"] == {"ad": 2, "rumour": 1}
    assert [i["id"] for i in state.view(View(review_group="g-fin"))["reviews"]["items"]] == ["vio-2", "vio-1"]
    assert [i["id"] for i in state.view(View(review_label="rumour"))["reviews"]["items"]] == ["vio-2"]
    state.apply(review_record("vio-2"))
    assert [i["id"] for i in state.snapshot()["reviews"]["items"]] == ["vio-5", "vio-1"]
    # the decision shows on the violation in the feed
    decided = next(i for i in state.snapshot()["feed"]["items"] if i["id"] == "vio-2")
    assert decided["decision"]["decision"] == "dismissed" and decided["decision"]["reviewer"] == "名-sup"


def test_a_review_read_before_its_violation_keeps_it_out_of_the_queue():
    """The reviews and violations topics are read side by side: either may come first."""
    state = DashboardState()
    state.apply(review_record("vio-1", decision="confirmed", new_label="ad"))
    state.apply(content_violation(1))
    assert state.snapshot()["reviews"]["items"] == []


def test_the_age_filter_keeps_those_waiting_at_least_that_long():
    state = DashboardState()
    now = time.time()

    def iso(seconds_ago):
        return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - seconds_ago))

    state.apply(content_violation("old", ts=iso(5 * 3600)))
    state.apply(content_violation("new", ts=iso(600)))
    assert [i["id"] for i in state.view(View(review_age=4), now=now)["reviews"]["items"]] == ["vio-old"]
    assert len(state.view(View(review_age=0), now=now)["reviews"]["items"]) == 2
    assert state.view(View(review_age=24), now=now)["reviews"]["items"] == []


def test_a_queue_item_carries_scores_reasons_and_the_members_history_in_that_group():
    state = DashboardState()
    state.apply(content_violation("a", ts="2026-03-02T08:00:00+08:00", label="chitchat", rule="P6"))
    state.apply(escalation("a", member="u-xw"))
    state.apply(content_violation("b", ts="2026-03-02T08:30:00+08:00", review="none", label="ad"))
    state.apply(content_violation("x", group="g-apollo"))                            # another group: not history
    state.apply({"kind": "verdict", "id": "ver-c", "group_id": "g-fin", "ts": "2026-03-02T09:40:00+08:00",
                 "label": "ad", "band": "review", "message_id": "m-c", "scores": {"ad": 0.71, "work": 0.29}})
    state.apply(content_violation("c"))
    item = next(i for i in state.snapshot()["reviews"]["items"] if i["id"] == "vio-c")
    assert item["scores"] == {"ad": 0.71, "work": 0.29} and item["reasons"] == ["model: ad 0.70"]
    assert item["excerpt"] == "138****5678 redacted" and item["score"] == 0.7
    history = item["history"]
    assert history["rules"] == {"P6": 1, "P4": 2} and history["escalations"] == 1
    assert [v["id"] for v in history["recent"]] == ["vio-b", "vio-a"]                # itself left out, newest first


def test_the_queue_is_bounded_and_counts_what_it_let_go():
    state = DashboardState(Bounds(reviews=10))
    for i in range(25):
        state.apply(content_violation(i, ts=f"2026-03-02T09:{i:02d}:00+08:00"))
    queue = state.snapshot()["reviews"]
    assert queue["waiting"] <= 10 and queue["dropped"] >= 15 and queue["items"][-1]["id"] == "vio-24"


def test_a_sent_decision_marks_the_item_until_the_review_arrives():
    state = DashboardState()
    state.apply(content_violation(1))
    state.note_sent("vio-1", "dismissed", "名-sup", "2026-03-02T12:00:00+08:00")
    assert state.snapshot()["reviews"]["items"][0]["awaiting"]["decision"] == "dismissed"
    state.apply(review_record("vio-1"))
    assert state.snapshot()["reviews"]["items"] == [] and state.awaiting == {}


def test_a_retraction_shows_on_the_escalations_it_withdraws():
    state = DashboardState()
    state.apply(content_violation(1, review="none"))
    state.apply(escalation(1))
    state.apply(escalation(2, member="u-other"))
    state.apply({"kind": "retraction", "id": "ret-1", "group_id": "g-fin", "ts": "2026-03-02T12:00:00+08:00",
                 "retracts": ["esc-1"], "violation_id": "vio-1", "reason": "dismissed by a reviewer"})
    items = {i["id"]: i for i in state.snapshot()["feed"]["items"]}
    assert items["esc-1"]["retracted"]["reason"] == "dismissed by a reviewer"
    assert "retracted" not in items["esc-2"]


# --------------------------------------------------------------------------- what a group admin sees

B_MARKS = ("g-apollo", "阿波罗", "u-secret", "秘密成员", "apollo-excerpt", "apollo-reason")


def _two_groups() -> DashboardState:
    from tests.unit.test_dashboard_state import REPORT, responsiveness

    state = DashboardState()
    state.apply(content_violation("fin", group="g-fin"))
    state.apply({**content_violation("apollo", group="g-apollo", member="u-secret", label="rumour"),
                 "member": {"id": "u-secret", "name": "秘密成员"}, "excerpt": "apollo-excerpt",
                 "group_name": "阿波罗项目组",
                 "evidence": {"label": "rumour", "score": 0.6, "reasons": ["apollo-reason"], "message_id": "m-ap"}})
    state.apply(escalation("apollo", group="g-apollo", member="u-secret", level="supervisor", severity="severe"))
    state.apply({"kind": "verdict", "id": "ver-ap", "group_id": "g-apollo", "ts": "2026-03-02T09:40:00+08:00",
                 "label": "rumour", "band": "review", "message_id": "m-ap", "scores": {"rumour": 0.6}})
    state.apply(responsiveness("u-secret", "2026-03-02T00:00:00+08:00", 0.5, 900, group="g-apollo"))
    state.apply(REPORT)                                           # g-apollo's report, with its open items
    state.apply({"kind": "rejected", "id": "rej-1", "reason": "not valid JSON"})
    return state


def test_a_group_admin_gets_nothing_of_another_group_whatever_the_filters_say():
    state = _two_groups()
    fin = frozenset({"g-fin"})
    views = [View(scope=fin), View(scope=fin, group="g-apollo"), View(scope=fin, report="g-apollo"),
             View(scope=fin, review_group="g-apollo"), View(scope=fin, member="u-secret"),
             View(scope=fin, member="秘密"), View(scope=fin, severity="severe"), View(scope=fin, rule="P3"),
             View(scope=fin, window="week"), View(scope=fin, review_label="rumour", limit=200)]
    for view in views:
        text = orjson.dumps(state.view(view, now=time.time())).decode()
        leaked = [m for m in B_MARKS if m in text]
        assert not leaked, (view, leaked)
    own = state.view(View(scope=fin))
    assert [i["id"] for i in own["reviews"]["items"]] == ["vio-fin"]
    assert own["totals"]["kinds"] == {"violation": 1} and own["totals"]["dlq_reasons"] == {}
    # the same state, seen by a supervisor, has all of it
    everything = orjson.dumps(state.view(View(), now=time.time())).decode()
    assert all(m in everything for m in B_MARKS)


def test_a_decision_can_name_only_a_violation_the_user_sees():
    state = _two_groups()
    fin = frozenset({"g-fin"})
    assert state.decidable_in("vio-fin", fin) == Decidable("g-fin", "ad", "required", "P4")
    assert state.decidable_in("vio-apollo", fin) is None            # another group's: as if unknown
    assert state.decidable_in("vio-nonexistent", fin) is None
    assert state.decidable_in("vio-apollo", None).group_id == "g-apollo"


# --------------------------------------------------------------------------- decisions (pure)


@pytest.mark.parametrize("body, message", [
    ([], "JSON object"), ({"decision": "dismissed"}, "violation_id"), ({"violation_id": 5, "decision": "dismissed"}, "violation_id"),
    ({"violation_id": "v" * 300, "decision": "dismissed"}, "violation_id"),
    ({"violation_id": "v", "decision": "deleted"}, "decision"), ({"violation_id": "v", "decision": "relabelled"}, "label"),
    ({"violation_id": "v", "decision": "relabelled", "label": "spam"}, "label"),
    ({"violation_id": "v", "decision": "dismissed", "label": "work"}, "only a relabelling"),
    ({"violation_id": "v", "decision": "dismissed", "note": 5}, "note"),
    ({"violation_id": "v", "decision": "dismissed", "note": "x" * 1001}, "note"),
])
def test_a_decision_request_is_checked_field_by_field(body, message):
    with pytest.raises(Refused, match=message) as caught:
        parse_decision(body)
    assert caught.value.status == 400


def test_a_note_loses_control_characters():
    assert parse_decision({"violation_id": "v", "decision": "dismissed", "note": " ok\x1b[31m\u0000 fine \n"})[3] == "ok[31m fine"


def test_which_decisions_make_sense():
    required, acted = Decidable("g", "ad", "required", "P4"), Decidable("g", "ad", "none", "P4")
    check_decision(required, "confirmed", None, None)
    check_decision(acted, "dismissed", None, None)
    check_decision(acted, "relabelled", "rumour", None)
    for found, decision, label, recorded, status in [
            (None, "dismissed", None, None, 404),
            (acted, "confirmed", None, None, 409),
            (required, "relabelled", "ad", None, 400),
            (required, "dismissed", None, {"decision": "dismissed", "new_label": "work", "reviewer": "x"}, 409),
            (required, "relabelled", "work", {"decision": "dismissed", "new_label": "work"}, 400)]:
        with pytest.raises(Refused) as caught:
            check_decision(found, decision, label, recorded)
        assert caught.value.status == status
    # a confirmed violation may still be dismissed later (R2)
    check_decision(required, "dismissed", None, {"decision": "confirmed", "new_label": "ad"})


def test_the_decision_event_follows_the_contract_and_a_repeat_has_the_same_id():
    sup = Principal("sup", "名-sup", "supervisor", (), True)
    found = Decidable("g-fin", "ad", "required", "P4")
    event = decision_event(sup, found, "vio-1", "relabelled", "rumour", "看过了", "", "2026-03-02T12:00:00+08:00")
    assert event == {"event_id": event["event_id"], "type": "review.decided", "ts": "2026-03-02T12:00:00+08:00",
                     "group_id": "g-fin", "actor": {"id": "sup", "name": "名-sup"},
                     "review": {"violation_id": "vio-1", "decision": "relabelled", "label": "rumour", "note": "看过了"}}
    assert 1 <= len(event["event_id"]) <= 128
    again = decision_event(sup, found, "vio-1", "relabelled", "rumour", "another note", "", "2026-03-02T12:00:05+08:00")
    assert again["event_id"] == event["event_id"]                             # a double click: one decision
    other = Principal("comp", "名-comp", "compliance", (), True)
    assert decision_event(other, found, "vio-1", "relabelled", "rumour", None, "", "t")["event_id"] != event["event_id"]
    later = decision_event(sup, found, "vio-1", "relabelled", "rumour", None, "2026-03-03|dismissed|work", "t")
    assert later["event_id"] != event["event_id"]                             # a new decision after a recorded one


def test_the_workers_decoder_takes_the_decision_event():
    from pipeline.core.events import EVENT_TYPES, decode

    if "review.decided" not in EVENT_TYPES:
        pytest.skip("the core does not read review.decided yet")
    sup = Principal("sup", "名-sup", "supervisor", (), True)
    for decision, label in (("confirmed", None), ("dismissed", None), ("relabelled", "work")):
        event = decision_event(sup, Decidable("g-fin", "ad", "required", "P4"), "vio-1", decision, label, "note", "",
                               "2026-03-02T12:00:00+08:00")
        decode(orjson.dumps(event))


# --------------------------------------------------------------------------- the web shell on loopback


async def _serve(state: DashboardState | None = None, **env):
    env.setdefault("users_file", users_file())
    settings = load_settings(env={f"MODERATION_DASHBOARD_{k.upper()}": str(v) for k, v in env.items()})
    runner, url = await start("127.0.0.1", 0, settings, state=state or DashboardState(), consume=False)
    return runner, url


def _client(**kw) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kw)


def _audit(runner) -> list[dict]:
    queue = runner.app[OUTBOX_KEY].audit_queue
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def _concrete(resource) -> list[str]:
    """Paths that reach a route: its own path, a placeholder for each variable, a file for a static folder."""
    info = resource.get_info()
    if "directory" in info:
        files = sorted(p.name for p in Path(info["directory"]).iterdir() if p.is_file())
        return [info["prefix"].rstrip("/") + "/" + name for name in files] + [info["prefix"].rstrip("/") + "/nope.js"]
    if "formatter" in info:
        return [re.sub(r"\{[^}]+\}", "x", info["formatter"])]
    return [info["path"]]


async def test_every_route_but_the_login_and_healthz_refuses_a_request_without_a_session():
    """The routes are read from the app itself, so a route added later is checked too."""
    runner, url = await _serve(_two_groups())
    app = runner.app
    checked, public = 0, set()
    try:
        async with _client() as client:
            for route in app.router.routes():
                name = route.name or route.resource.name
                for path in _concrete(route.resource):
                    method = route.method if route.method != "*" else "GET"
                    if method == "HEAD":
                        continue
                    response = await client.request(method, url.rstrip("/") + path, allow_redirects=False,
                                                    data=b"{}" if method == "POST" else None)
                    body = await response.read()
                    checked += 1
                    if name in PUBLIC_ROUTES:
                        public.add(name)
                        continue
                    assert response.status in (401, 303), (method, path, response.status)
                    if response.status == 303:
                        assert response.headers["Location"] == "/login"
                    for mark in (b"g-apollo", b"vio-", b"g-fin"):
                        assert mark not in body, (path, mark)
            # paths that match no route, or climb out of the public folder, get nothing either
            from yarl import URL

            for path in ("/nope", "/api/nope", "/static/../login", "/login-assets/../static/app.js",
                         "/login-assets/%2e%2e/static/app.js", "/%2e%2e/api/state", "/login-assets/..%2fstatic%2fapp.js",
                         "//api/state", "/api/state/", "/API/STATE", "/healthz/../api/state"):
                response = await client.get(URL(url.rstrip("/") + path, encoded=True), allow_redirects=False)
                body = await response.read()
                assert b"g-apollo" not in body and b"use strict" not in body, path
                assert response.status in (401, 404, 303, 403) or b"Log in" in body, (path, response.status)
    finally:
        await runner.cleanup()
    assert public == set(PUBLIC_ROUTES) and checked >= 12
    print(f"\n{checked} route requests without a session; public: {sorted(public)}")


async def test_healthz_and_the_login_page_carry_no_data():
    runner, url = await _serve(_two_groups())
    try:
        async with _client() as client:
            health = await client.get(url + "healthz")
            assert await health.json() == {"status": "up"}
            page = await (await client.get(url + "login")).text()
            assert "g-apollo" not in page and "vio-" not in page
            assert "No users yet" not in page
    finally:
        await runner.cleanup()


async def test_without_users_the_login_page_says_how_to_add_one(tmp_path):
    runner, url = await _serve(users_file=str(tmp_path / "none.json"))
    try:
        async with _client() as client:
            page = await (await client.get(url + "login")).text()
    finally:
        await runner.cleanup()
    assert "No users yet" in page and "moderation users add NAME --role supervisor" in page
    assert str(tmp_path / "none.json") in page


async def test_the_session_cookie_is_httponly_samesite_strict_and_secure_behind_https():
    for secure, name in ((False, "moderation_session"), (True, "__Host-moderation")):
        runner, url = await _serve(secure_cookies=str(secure).lower())
        try:
            async with _client() as client:
                form = await client.get(url + "login")
                login_cookie = form.headers["Set-Cookie"]
                assert "HttpOnly" in login_cookie and ("Secure" in login_cookie) is secure
                token = csrf_of(await form.text())
                # over plain http a client keeps a Secure cookie to itself: this test hands it over
                response = await client.post(url + "login", allow_redirects=False, cookies={"moderation_login": token},
                                             data={"username": "sup", "password": PASSWORD, "csrf": token})
                assert response.status == 303
                cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith(name + "="))
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
                assert ("Secure" in cookie) is secure and "Domain" not in cookie
        finally:
            await runner.cleanup()


async def test_a_login_gets_a_new_session_token_whatever_the_browser_brought():
    """Session fixation: a token planted before login (or left from another user) is never the session."""
    runner, url = await _serve()
    try:
        async with _client() as attacker:
            await log_in(attacker, url, "adm-fin")
            planted = next(c.value for c in attacker.cookie_jar if c.key == "moderation_session")
        async with _client() as victim:
            victim.cookie_jar.update_cookies({"moderation_session": "attacker-chosen-token"})
            victim.cookie_jar.update_cookies({"moderation_session": planted})
            assert (await (await victim.get(url + "api/me")).json())["name"] == "adm-fin"   # the planted one works ...
            page = await (await victim.get(url + "login")).text()
            response = await victim.post(url + "login", allow_redirects=False,
                                         data={"username": "sup", "password": PASSWORD, "csrf": csrf_of(page)})
            token = response.cookies["moderation_session"].value
            assert response.status == 303 and token not in (planted, "attacker-chosen-token")
        async with _client() as attacker:
            attacker.cookie_jar.update_cookies({"moderation_session": planted})
            assert (await attacker.get(url + "api/me")).status == 401      # ... and ended at the victim's login
            attacker.cookie_jar.update_cookies({"moderation_session": "attacker-chosen-token"})
            assert (await attacker.get(url + "api/me")).status == 401
    finally:
        await runner.cleanup()


async def test_the_login_form_needs_its_csrf_token_and_the_dashboards_origin():
    runner, url = await _serve()
    try:
        async with _client() as client:
            page = await (await client.get(url + "login")).text()
            token = csrf_of(page)
            for data, headers in [({"username": "sup", "password": PASSWORD}, {}),
                                  ({"username": "sup", "password": PASSWORD, "csrf": "wrong"}, {}),
                                  ({"username": "sup", "password": PASSWORD, "csrf": token},
                                   {"Origin": "http://evil.example"}),
                                  ({"username": "sup", "password": PASSWORD, "csrf": token},
                                   {"Sec-Fetch-Site": "cross-site"})]:
                response = await client.post(url + "login", data=data, headers=headers, allow_redirects=False)
                assert response.status == 403, (data, headers)
            async with _client() as fresh:      # a token without its cookie (another browser's form) fails too
                response = await fresh.post(url + "login", allow_redirects=False,
                                            data={"username": "sup", "password": PASSWORD, "csrf": token})
                assert response.status == 403
            assert (await client.get(url + "api/me")).status == 401
        audit = _audit(runner)
        assert [a["outcome"] for a in audit] == ["refused"] * 5 and all(a["detail"]["why"] == "csrf" for a in audit)
    finally:
        await runner.cleanup()


async def test_a_change_needs_the_sessions_csrf_header_and_the_dashboards_origin():
    state = DashboardState()
    state.apply(content_violation(1))
    runner, url = await _serve(state)
    try:
        async with _client() as client:
            me = await log_in(client, url, "sup")
            body = orjson.dumps({"violation_id": "vio-1", "decision": "dismissed"})
            for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": me["csrf"], "Origin": "http://evil.example"},
                            {"X-CSRF-Token": me["csrf"], "Sec-Fetch-Site": "cross-site"},
                            {"X-CSRF-Token": me["csrf"], "Origin": "null"}):
                response = await client.post(url + "api/decisions", data=body, headers=headers)
                assert response.status == 403, headers
                response = await client.post(url + "logout", headers=headers)
                assert response.status == 403, headers
            assert (await client.get(url + "api/me")).status == 200                   # still logged in
            # with the token, from the page's origin, the decision passes every check (and finds no broker here)
            response = await client.post(url + "api/decisions", data=body,
                                         headers={"X-CSRF-Token": me["csrf"], "Origin": url.rstrip("/")})
            assert response.status == 503 and "try again" in (await response.json())["error"]
        audit = _audit(runner)
        assert sum(a["outcome"] == "refused" and a["action"] in ("decide", "logout") for a in audit) == 10
        assert audit[-1]["action"] == "decision" and audit[-1]["outcome"] == "failed"
    finally:
        await runner.cleanup()


async def test_logins_are_limited_per_user_and_per_client(tmp_path):
    runner, url = await _serve(login_failures_per_user=3, login_failures_per_client=6)
    try:
        async with _client() as client:
            async def attempt(name, password):
                page = await (await client.get(url + "login")).text()
                response = await client.post(url + "login", allow_redirects=False,
                                             data={"username": name, "password": password, "csrf": csrf_of(page)})
                return response.status, response.headers.get("Retry-After")

            assert [(await attempt("sup", "wrong password!"))[0] for _ in range(3)] == [401] * 3
            status, retry = await attempt("sup", PASSWORD)            # the right password, too late
            assert status == 429 and 800 <= int(retry) <= 901
            assert (await attempt("comp", PASSWORD))[0] == 303        # another user from this client still can
            assert (await client.post(url + "logout", headers={"X-CSRF-Token": (await (await client.get(url + "api/me")).json())["csrf"]})).status == 200
            for name in ("aud", "adm-fin", "nobody"):
                assert (await attempt(name, "wrong password!"))[0] == 401
            assert (await attempt("own-apollo", "wrong password!"))[0] == 429   # 6 failures from this client
            assert (await attempt("own-apollo", PASSWORD))[0] == 429
        audit = _audit(runner)
        outcomes = [(a["user"], a["outcome"]) for a in audit if a["action"] == "login"]
        assert outcomes.count(("sup", "failure")) == 3 and ("sup", "rate_limited") in outcomes
        assert ("comp", "success") in outcomes and ("nobody", "failure") in outcomes
        assert not any(PASSWORD in orjson.dumps(a).decode() or "wrong password!" in orjson.dumps(a).decode()
                       for a in audit)
    finally:
        await runner.cleanup()


async def test_a_login_flood_checks_no_more_passwords_than_the_limit():
    """200 wrong logins at once from one client: at most the per-client limit of them get a
    password check; the rest are refused at once. Prints the figures."""
    runner, url = await _serve(login_failures_per_client=20, login_failures_per_user=1000)
    try:
        async with _client() as client:
            page = await (await client.get(url + "login")).text()
            token = csrf_of(page)

            async def attempt(i):
                response = await client.post(url + "login", allow_redirects=False,
                                             data={"username": f"user{i}", "password": "wrong password!", "csrf": token})
                await response.read()
                return response.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(attempt(i) for i in range(200)))
            took = time.monotonic() - started
            health = runner.app
    finally:
        await runner.cleanup()
    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"\n200 wrong logins at once: {counts} in {took:.1f}s")
    assert counts.get(401, 0) <= 20 and counts.get(303, 0) == 0
    assert counts.get(401, 0) + counts.get(429, 0) + counts.get(503, 0) == 200
    assert health is not None


async def test_logout_and_expiry_end_the_session_and_its_live_stream():
    runner, url = await _serve(session_idle_minutes=0.05)          # 3 s without a request
    try:
        async with _client() as client:
            me = await log_in(client, url, "sup")
            stream = await client.get(url + "api/stream")
            assert stream.status == 200
            await stream.content.readuntil(b"\n\n")
            assert (await client.post(url + "logout", headers={"X-CSRF-Token": me["csrf"]})).status == 200
            ended = await asyncio.wait_for(stream.content.read(), 5)     # the stream closes by itself
            assert b"event: state" not in ended
            assert (await client.get(url + "api/state")).status == 401
            assert (await client.get(url, allow_redirects=False)).headers["Location"] == "/login"
            await log_in(client, url, "sup")
            assert (await client.get(url + "api/state")).status == 200
            await asyncio.sleep(3.3)
            assert (await client.get(url + "api/state")).status == 401    # idle too long
    finally:
        await runner.cleanup()


async def test_removing_a_user_or_changing_their_password_ends_their_sessions(tmp_path):
    path = copy_users_file(tmp_path)
    runner, url = await _serve(users_file=path)
    try:
        async with _client() as sup, _client() as aud:
            await log_in(sup, url, "sup")
            await log_in(aud, url, "aud")
            UserFile(path).remove("aud")
            UserFile(path).passwd("sup", "a brand new password")
            await asyncio.sleep(1.1)                                         # the file is looked at once a second
            assert (await aud.get(url + "api/state")).status == 401
            assert (await sup.get(url + "api/state")).status == 401
            await log_in(sup, url, "sup", "a brand new password")
    finally:
        await runner.cleanup()


async def test_an_auditor_reads_everything_and_may_not_decide():
    runner, url = await _serve(_two_groups())
    try:
        async with _client() as client:
            me = await log_in(client, url, "aud")
            assert me["can_decide"] is False and me["groups"] is None
            data = await (await client.get(url + "api/state")).json()
            assert {i["id"] for i in data["reviews"]["items"]} == {"vio-fin", "vio-apollo"}
            response = await client.post(url + "api/decisions", headers={"X-CSRF-Token": me["csrf"]},
                                         data=orjson.dumps({"violation_id": "vio-fin", "decision": "dismissed"}))
            assert response.status == 403 and "reads only" in (await response.json())["error"]
        refused = [a for a in _audit(runner) if a["action"] == "decision"]
        assert refused[0]["outcome"] == "refused" and refused[0]["user"] == "aud"
    finally:
        await runner.cleanup()


async def test_a_group_admin_sees_and_decides_only_for_their_groups_on_the_api_and_the_stream():
    runner, url = await _serve(_two_groups())
    try:
        async with _client() as client:
            me = await log_in(client, url, "adm-fin")
            assert me["groups"] == ["g-fin"] and me["can_decide"]
            for query in ("", "?group=g-apollo", "?rgroup=g-apollo", "?report=g-apollo", "?member=u-secret",
                          "?severity=severe", "?rlabel=rumour&limit=200"):
                body = await (await client.get(url + "api/state" + query)).text()
                assert not [m for m in B_MARKS if m in body], query
                async with client.get(url + "api/stream" + query) as stream:
                    frame = (await stream.content.readuntil(b"\n\n")).decode()
                    assert frame.startswith("event: state") and not [m for m in B_MARKS if m in frame], query
            for violation_id in ("vio-apollo", "vio-guessed-123"):
                response = await client.post(url + "api/decisions", headers={"X-CSRF-Token": me["csrf"]},
                                             data=orjson.dumps({"violation_id": violation_id, "decision": "dismissed"}))
                assert response.status == 404
                assert "g-apollo" not in await response.text()
            # their own group's violation passes every check (and finds no broker in this test)
            response = await client.post(url + "api/decisions", headers={"X-CSRF-Token": me["csrf"]},
                                         data=orjson.dumps({"violation_id": "vio-fin", "decision": "dismissed"}))
            assert response.status == 503
        async with _client() as client:
            await log_in(client, url, "sup")
            body = await (await client.get(url + "api/state")).text()
            assert all(m in body for m in ("g-apollo", "apollo-excerpt", "u-secret"))
    finally:
        await runner.cleanup()


async def test_a_decision_request_is_bounded():
    state = DashboardState()
    state.apply(content_violation(1))
    runner, url = await _serve(state)
    try:
        async with _client() as client:
            me = await log_in(client, url, "sup")
            response = await client.post(url + "api/decisions", headers={"X-CSRF-Token": me["csrf"]},
                                         data=b'{"violation_id": "vio-1", "decision": "dismissed", "note": "' + b"x" * 20_000 + b'"}')
            assert response.status == 413
            response = await client.post(url + "api/decisions", headers={"X-CSRF-Token": me["csrf"]}, data=b"[not json")
            assert response.status == 400
            page = await (await client.get(url + "login")).text()
            response = await client.post(url + "login", data={"username": "sup", "password": "p" * 10_000,
                                                              "csrf": csrf_of(page)})
            assert response.status == 413
    finally:
        await runner.cleanup()


def test_the_users_in_the_helpers_have_every_role():
    assert {role for role, _ in USERS.values()} == {"admin", "owner", "supervisor", "compliance", "auditor"}


async def test_a_broken_users_file_on_a_running_dashboard_lets_nobody_in(tmp_path):
    path = copy_users_file(tmp_path)
    runner, url = await _serve(users_file=path)
    try:
        async with _client() as client:
            await log_in(client, url, "sup")
            Path(path).write_bytes(b'{"version": 1, "users": {"sup": ')             # a half-written edit by hand
            await asyncio.sleep(1.1)
            assert (await client.get(url + "api/state")).status == 401
            page = await (await client.get(url + "login")).text()
            assert "cannot be read" in page and path not in page                  # the details are in the log only
            response = await client.post(url + "login", allow_redirects=False,
                                         data={"username": "sup", "password": PASSWORD, "csrf": csrf_of(page)})
            assert response.status == 401
    finally:
        await runner.cleanup()
