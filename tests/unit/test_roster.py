"""Roster import: groups' roles and departed staff from CSV or YAML → group.configured / member.departed."""
from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.connectors import Broken, Skipped
from pipeline.connectors.publish import EXIT_BAD_RECORDS, EXIT_OK, EXIT_USAGE
from pipeline.connectors.roster import RosterFileError, checked, read_roster, roster_events, run
from pipeline.core.events import decode, encode

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)

ROSTER_YAML = """\
# 角色与离职名单
groups:
  - group_id: g-fin
    name: 财务部工作群
    kind: department
    admins: [u-wang, u-li]
    owners: [u-zhang]
  - group_id: g-apollo
    name: 阿波罗项目组
    kind: project
    admins: u-chen          # one id needs no list
    owners: []
departed:
  - member_id: u-zhao
    groups: all             # every group this import configures
    reason: 离职
    date: 2026-03-01
  - member_id: "0123"
    groups: [g-fin]
    date: 2026-03-05T18:00:00+08:00
"""
GROUPS_CSV = "\ufeffgroup_id,name,kind,admins,owners\ng-fin,财务部工作群,department,u-wang;u-li,u-zhang\n" \
             'g-apollo,阿波罗项目组,project,"u-chen",\n'
DEPARTED_CSV = "member_id,groups,reason,date\nu-zhao,all,离职,2026-03-01\n0123,g-fin,,2026-03-05T18:00:00+08:00\n"


def events_of(*files: tuple[str, str]) -> list[tuple[str, object]]:
    rows = [row for name, text in files for row in read_roster(name, text.encode())]
    return roster_events(rows, AT, SHANGHAI, NOW)


def only_events(items) -> list[dict]:
    return [e for _, item in items if isinstance(item, list) for e in item]


def test_yaml_roster_gives_group_configured_and_member_departed():
    events = only_events(events_of(("roster.yaml", ROSTER_YAML)))
    fin, apollo = events[:2]
    assert fin["type"] == "group.configured" and fin["group_id"] == "g-fin"
    assert fin["group"] == {"name": "财务部工作群", "kind": "department", "admins": ["u-wang", "u-li"],
                            "owners": ["u-zhang"]}
    assert fin["ts"] == "2026-03-02T09:00:00+08:00" and fin["actor"]["id"] == "roster"
    assert apollo["group"]["admins"] == ["u-chen"] and apollo["group"]["owners"] == []
    departed = events[2:]
    assert [(e["type"], e["group_id"], e["member"]["id"]) for e in departed] == [
        ("member.departed", "g-apollo", "u-zhao"), ("member.departed", "g-fin", "u-zhao"),
        ("member.departed", "g-fin", "0123")]            # "0123" stays text, not the number 83
    assert departed[0]["ts"] == "2026-03-01T00:00:00+08:00" and departed[0]["reason"] == "离职"
    assert departed[2]["ts"] == "2026-03-05T18:00:00+08:00" and "reason" not in departed[2]
    for event in events:
        decode(encode(event))


def test_csv_files_give_the_same_events_as_the_yaml():
    from_csv = only_events(events_of(("groups.csv", GROUPS_CSV), ("departed.csv", DEPARTED_CSV)))
    assert from_csv == only_events(events_of(("roster.yaml", ROSTER_YAML)))


def test_event_ids_follow_from_the_content_so_a_second_import_is_a_repeat():
    first = only_events(events_of(("roster.yaml", ROSTER_YAML)))
    again = roster_events(read_roster("copy.yml", ROSTER_YAML.encode()), datetime(2026, 3, 9, tzinfo=SHANGHAI),
                          SHANGHAI, NOW)
    assert [e["event_id"] for e in first] == [e["event_id"] for e in only_events(again)]
    changed = only_events(events_of(("roster.yaml", ROSTER_YAML.replace("[u-wang, u-li]", "[u-wang]"))))
    assert changed[0]["event_id"] != first[0]["event_id"]          # a changed group takes effect
    assert changed[1]["event_id"] == first[1]["event_id"]
    assert len({e["event_id"] for e in first}) == len(first)


@pytest.mark.parametrize("text, where, reason", [
    ("group_id,name,kind\ng-1,一组,dept\n", "f.csv: line 2", "field 'kind': should be one of department, project, "
                                                           "cross_department, got 'dept'"),
    ("group_id,name,kind\n,一组,project\n", "f.csv: line 2", "field 'group_id': missing"),
    ("group_id,name,kind\ng-1,,project\n", "f.csv: line 2", "field 'name': missing"),
    ("group_id,name,kind\ng-1,一组,project\ng-1,二组,project\n", "f.csv: line 3",
     "field 'group_id': group 'g-1' is already configured at f.csv: line 2"),
    ("group_id,name,kind,admins\ng-1,一组,project," + "u" * 200 + "\n", "f.csv: line 2", "field 'admins': id 'uuu"),
    ("group_id,name,kind\ng-1," + "名" * 300 + ",project\n", "f.csv: line 2",
     "field 'name': 300 characters, over the limit of 256"),
    ("group_id,name,kind\ng-1,一组,project,extra\n", "f.csv: line 2", "4 cells, but the header has 3 columns"),
    ("member_id,groups,date\nu-1,g-1,2026-13-01\n", "f.csv: line 2", "field 'date': '2026-13-01' is not a date"),
    ("member_id,groups,date\nu-1,g-1,2026-04-01\n", "f.csv: line 2", "field 'date': '2026-04-01' is in the future"),
    ("member_id,groups,date\nu-1,g-1,2026-03-01T10:00:00\n", "f.csv: line 2", "has no offset"),
    ("member_id,groups,date\nu-1,g-1,1999-12-31\n", "f.csv: line 2", "not between 2000 and 2100"),
    ("member_id,groups,date\nu-1,all,2026-03-01\n", "f.csv: line 2",
     "field 'groups': 'all' means every group this import configures, and it configures none"),
    ("member_id,groups,date\nu-1,,2026-03-01\n", "f.csv: line 2", "field 'groups': missing"),
    ("member_id,groups,date\nu-1,g-1,\n", "f.csv: line 2", "field 'date': missing"),
    ("groups:\n  - group_id: g-1\n    name: 一组\n    kind: project\n    admin: [u-1]\n", "f.yaml: line 2",
     "unknown field 'admin' (line 5)"),
    ("groups:\n  - group_id: g-1\n    name: 一组\n    kind: project\n    admins: {a: 1}\n", "f.yaml: line 2",
     "field 'admins' (line 5): should be a list of member ids"),
    ("groups:\n  - group_id: g-1\n    name: [一组]\n    kind: project\n", "f.yaml: line 2",
     "field 'name' (line 3): should be one value"),
    ("groups:\n  - just a string\n", "f.yaml: line 2", "should be a mapping"),
    ("departed:\n  - member_id: u-1\n    groups: [g-1, [g-2]]\n    date: 2026-03-01\n", "f.yaml: line 2",
     "field 'groups' (line 3): should be a list of member ids"),
])
def test_a_bad_row_names_its_file_line_and_field(text, where, reason):
    items = events_of((where.split(":")[0], text))
    bad = [(w, item) for w, item in items if isinstance(item, Broken)]
    assert len(bad) == 1, items
    assert bad[0][0] == where
    assert bad[0][1].reason.startswith(reason) or reason in bad[0][1].reason, bad[0][1].reason


@pytest.mark.parametrize("name, text, says", [
    ("f.csv", "name,kind\nx,project\n", "f.csv: line 1: the first row should be a header"),
    ("f.csv", "group_id,name,kind,admin\n", "f.csv: line 1: unknown column 'admin'"),
    ("f.csv", "group_id,name\n", "f.csv: line 1: missing column 'kind'"),
    ("f.csv", "", "f.csv: empty"),
    ("f.csv", 'group_id,name,kind\n"g-1,' + "x" * 200_000 + ",project\n", "f.csv: line"),
    ("f.yaml", "groups: [\n", "f.yaml: line 2: not valid YAML"),
    ("f.yaml", "- a\n- b\n", "f.yaml: line 1: a roster is a mapping"),
    ("f.yaml", "groups: {a: 1}\n", "f.yaml: line 1: 'groups' should be a list"),
    ("f.yaml", "members: []\n", "f.yaml: line 1: unknown section 'members'"),
    ("f.yaml", "a: &a [x, x]\nb: &b [*a, *a]\ngroups: [*b, *b]\n", "f.yaml: line 2: YAML aliases"),
    # 10,000 deep: refused by our limit or by libyaml's own, as a whole file either way
    ("f.yaml", "groups: " + "[" * 10_000 + "]" * 10_000 + "\n", "f.yaml: line 1: "),
    ("f.yaml", "groups:\n - " + "[" * 20 + "]" * 20 + "\n", "f.yaml: line 2: nested more than 8 deep"),
    ("f.yaml", "groups: []\n---\ngroups: []\n", "not valid YAML"),
])
def test_a_file_that_is_not_a_roster_is_refused_as_a_whole(name, text, says):
    with pytest.raises(RosterFileError) as caught:
        read_roster(name, text.encode())
    assert says in str(caught.value)


def test_a_file_not_in_utf8_says_how_to_save_it():
    with pytest.raises(RosterFileError, match="CSV UTF-8"):
        read_roster("f.csv", "group_id,name,kind\ng-1,财务部,project\n".encode("gbk"))


def test_the_same_departure_twice_is_sent_once():
    text = "member_id,groups,date\nu-1,g-1,2026-03-01\nu-1,g-1,2026-03-01\n"
    items = events_of(("d.csv", text))
    assert isinstance(items[0][1], list) and isinstance(items[1][1], Skipped)
    assert "the same departure as d.csv: line 2" in items[1][1].reason


# ---------------------------------------------------------------------- any text at all

ROSTER_WORDS = ["groups", "departed", "group_id", "name", "kind", "admins", "owners", "member_id", "date",
                "reason", "all", "project", "department", "2026-03-01", "-", ":", "[", "]", ",", ";", "\n", "  ",
                "&a", "*a", "'", '"', "{", "}", "~", "null", "\ufeff", "\x00", "#", "!!python/object"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["r.yaml", "r.csv"]),
       text=st.lists(st.sampled_from(ROSTER_WORDS) | st.text(max_size=8), max_size=60).map("".join))
def test_any_text_is_rows_or_a_file_error_never_an_exception(name, text):
    try:
        rows = read_roster(name, text.encode("utf-8", "surrogatepass"))
    except RosterFileError as exc:
        assert str(exc).startswith(name)
        return
    for where, item in roster_events(rows, AT, SHANGHAI, NOW):
        assert where.startswith(name)
        try:
            for event in checked(item):
                decode(encode(event))
        except (Broken, Skipped):
            pass


# ---------------------------------------------------------------------- the command


def test_roster_command_dry_run_prints_the_events_and_reports_bad_rows(tmp_path):
    (tmp_path / "roster.yaml").write_text(ROSTER_YAML)
    (tmp_path / "more.csv").write_text("group_id,name,kind,admins,owners\ng-ops,运维群,ops,u-1,u-2\n")
    out, err = io.BytesIO(), io.StringIO()
    status = run([str(tmp_path / "roster.yaml"), str(tmp_path / "more.csv")], tz="Asia/Shanghai",
                 at="2026-03-02T09:00:00+08:00", dry_run=True, stdout=out, stderr=err, now=NOW)
    assert status == EXIT_BAD_RECORDS
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [e["type"] for e in events] == ["group.configured"] * 2 + ["member.departed"] * 3
    assert f"{tmp_path / 'more.csv'}: line 2: error: field 'kind': should be one of" in err.getvalue()
    assert "5 rows: 5 events, 0 skipped, 1 error" in err.getvalue()


def test_roster_command_exit_status(tmp_path):
    good = tmp_path / "roster.yaml"
    good.write_text(ROSTER_YAML)
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups: [\n")
    common = {"tz": "Asia/Shanghai", "at": None, "dry_run": True, "stdout": io.BytesIO(), "now": NOW}
    assert run([str(good)], stderr=io.StringIO(), **common) == EXIT_OK
    err = io.StringIO()
    assert run([str(good), str(broken)], stderr=err, **common) == EXIT_USAGE
    assert "nothing was imported" in err.getvalue() and "broken.yaml: line 2" in err.getvalue()
    assert run([str(tmp_path / "missing.csv")], stderr=io.StringIO(), **common) == EXIT_USAGE
    assert run([str(good)], stderr=io.StringIO(), **{**common, "at": "monday"}) == EXIT_USAGE
    assert run([str(good)], stderr=io.StringIO(), **{**common, "tz": "Nowhere/Land"}) == EXIT_USAGE


def test_the_examples_in_the_docs_import_without_a_problem():
    from pathlib import Path

    from pipeline.connectors.produce import checked_event

    docs = (Path(__file__).resolve().parents[2] / "docs" / "CONNECTORS.md").read_text()
    blocks = [(lang, body) for lang, body in
              ((b.split("\n", 1)[0], b.split("\n", 1)[1]) for b in docs.split("```")[1::2]) if lang in ("yaml", "csv")]
    assert [lang for lang, _ in blocks] == ["yaml", "csv", "csv"]
    files = [("roster.yaml" if lang == "yaml" else f"f{i}.csv", body) for i, (lang, body) in enumerate(blocks)]
    for example in (files[:1], files[1:]):
        items = events_of(*example)
        assert items and not [item for _, item in items if not isinstance(item, list)], items
    yaml_events = only_events(events_of(files[0]))
    assert only_events(events_of(*files[1:])) == yaml_events        # the CSV says what the YAML says
    jsonl = docs.split("<<'JSONL'\n", 1)[1].split("\nJSONL", 1)[0].splitlines()
    assert len(jsonl) == 2
    for line in jsonl:
        checked_event(orjson.loads(line))


def test_yaml_values_stay_as_written_and_only_plain_nulls_are_empty():
    text = ("groups:\n  - group_id: g-1\n    name: \"null\"\n    kind: project\n    admins: ~\n    owners:\n"
            "  - group_id: 0x10\n    name: yes\n    kind: department\n    admins: [no, 1e3]\n")
    first, second = only_events(events_of(("r.yaml", text)))
    assert first["group"] == {"name": "null", "kind": "project", "admins": [], "owners": []}
    assert second["group_id"] == "0x10" and second["group"]["name"] == "yes"
    assert second["group"]["admins"] == ["no", "1e3"]
