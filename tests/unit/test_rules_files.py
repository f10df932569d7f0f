"""P9 upload checks (each check) and F3 notices, through the offline core."""
from __future__ import annotations

import base64
import hashlib

from pipeline.core.rules.files import EICAR, sniff
from tests.conftest import rules_fired
from tests.factory import at, configured, event, tick
from tests.unit.rule_helpers import escalations, violations

GOOD_NAME = "季度预算_20260302_张三.pdf"
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
DOCX_HEAD = b"PK\x03\x04\x14\x00\x06\x00"
PE_HEAD = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
ELF_HEAD = b"\x7fELF\x02\x01\x01\x00"


def shared(name: str = GOOD_NAME, head: bytes | None = PDF_HEAD, folder: str | None = "财务/预算",
           sha256: str | None = None, file_id: str | None = None, ts: str | None = None, **flags) -> dict:
    body = {"id": file_id or f"f-{hashlib.md5(name.encode()).hexdigest()[:6]}", "name": name, "size": 2048,
            "folder": folder, "sha256": sha256 or hashlib.sha256(name.encode() + (head or b"")).hexdigest(), **flags}
    if head is not None:
        body["head_b64"] = base64.b64encode(head).decode()
    return event("file.shared", ts=ts, file=body)


def checks(engine, *events) -> list[list[str]]:
    return [v["evidence"]["checks"] for v in violations(engine, configured(), *events, rule="P9")]


def test_p9_near_miss_a_well_filed_document(work_engine):
    assert rules_fired(work_engine, configured(), shared()) == []
    assert rules_fired(work_engine, configured(), shared("需求评审_2026-03-02_李四.docx", DOCX_HEAD)) == []
    assert rules_fired(work_engine, configured(), shared("会议纪要_20260302_王五.txt", "会议纪要：……".encode())) == []


def test_p9_name_pattern(work_engine):
    assert checks(work_engine, shared("预算.pdf")) == [["name"]]
    assert checks(work_engine, shared("季度预算_张三_20260302.pdf")) == [["name"]]


def test_p9_extension_allow_list(work_engine):
    assert checks(work_engine, shared("工具_20260302_张三.iso", head=None)) == [["extension"]]


def test_p9_executable_extension_is_severe(work_engine):
    (v,) = violations(work_engine, configured(), shared("工具_20260302_张三.exe", PE_HEAD), rule="P9")
    assert v["evidence"]["checks"] == ["extension"] and v["severity"] == "severe"


def test_p9_executable_disguised_as_a_document_is_severe(work_engine):
    for name, head in (("报告_20260302_张三.pdf", PE_HEAD), ("方案_20260302_张三.docx", ELF_HEAD)):
        (v,) = violations(work_engine, configured(), shared(name, head), rule="P9")
        assert v["evidence"]["checks"] == ["content"] and v["severity"] == "severe", name
    levels = [e["level"] for e in escalations(work_engine, configured(), shared("报告_20260302_张三.pdf", PE_HEAD))]
    assert levels == ["supervisor"]


def test_p9_content_of_another_format_is_a_warning(work_engine):
    (v,) = violations(work_engine, configured(), shared("照片_20260302_张三.png", PDF_HEAD), rule="P9")
    assert v["evidence"]["checks"] == ["content"] and v["severity"] == "warning"


def test_p9_eicar_test_string_is_malware(work_engine):
    (v,) = violations(work_engine, configured(), shared("说明_20260302_张三.txt", EICAR), rule="P9")
    assert v["evidence"]["checks"] == ["malware"] and v["severity"] == "severe"


def test_p9_blocked_hash_is_malware_even_without_head(work_engine, policy):
    blocked = policy.files.blocked_sha256[0]
    (v,) = violations(work_engine, configured(), shared(head=None, sha256=blocked.upper()), rule="P9")
    assert v["evidence"]["checks"] == ["malware"] and v["severity"] == "severe"


def test_p9_missing_folder(work_engine):
    assert checks(work_engine, shared(folder=None)) == [["folder"]]
    assert checks(work_engine, shared(folder="  ")) == [["folder"]]


def test_p9_one_violation_lists_every_problem(work_engine):
    assert checks(work_engine, shared("setup.pdf", PE_HEAD, folder=None)) == [["name", "content", "folder"]]


def test_sniffing_unknown_bytes_is_not_a_finding():
    assert sniff(b"\x00\x01\x02\x03garbage\xff") is None
    assert sniff("中文文本内容".encode()[:-1]) == "text"


# --------------------------------------------------------------------------- F3

def test_f3_important_file_not_backed_up(work_engine):
    events = [shared("采购合同_20260302_张三.pdf"), tick(ts=at(days=6)), tick(ts=at(days=7, minutes=1)),
              tick(ts=at(days=20))]
    (v,) = violations(work_engine, configured(), *events, rule="F3")
    assert v["notice"] == "backup_missing" and v["recipients"] == {"admins": ["u-admin"]}
    assert v["evidence"]["file_name"] == "采购合同_20260302_张三.pdf"
    assert escalations(work_engine, configured(), *events) == []


def test_f3_flagged_important_by_the_platform(work_engine):
    events = [shared(important=True), tick(ts=at(days=8))]
    assert [v["notice"] for v in violations(work_engine, configured(), *events, rule="F3")] == ["backup_missing"]


def test_f3_near_miss_important_file_backed_up(work_engine):
    original = shared("采购合同_20260302_张三.pdf")
    copy = shared("采购合同_20260302_张三.pdf", folder="备份/2026", sha256=original["file"]["sha256"], file_id="f-copy",
                  ts=at(days=2))
    assert "F3" not in rules_fired(work_engine, configured(), original, copy, tick(ts=at(days=30)))
    flagged = shared("采购合同_20260302_张三.pdf", backed_up=True)
    assert "F3" not in rules_fired(work_engine, configured(), flagged, tick(ts=at(days=30)))


def test_f3_expired_file_once(work_engine):
    events = [shared(), tick(ts=at(days=364)), tick(ts=at(days=366)), tick(ts=at(days=400))]
    found = violations(work_engine, configured(), *events, rule="F3")
    assert [v["notice"] for v in found] == ["expired_file"]


def test_f3_near_miss_ordinary_file_within_retention(work_engine):
    assert "F3" not in rules_fired(work_engine, configured(), shared(), tick(ts=at(days=300)))


def test_f3_file_index_is_bounded(policy):
    from pipeline.config import Files
    from pipeline.core.engine import Engine
    from pipeline.core.events import decode
    from tests.conftest import FixedClassifier

    files = Files(**{**policy.files.model_dump(), "max_indexed_files": 10})
    engine = Engine(policy.model_copy(update={"files": files}), FixedClassifier())
    states: dict = {}
    events = [decode(__import__("orjson").dumps(shared(f"文件{i}_20260302_张三.pdf"))) for i in range(25)]
    engine.process(events, states)
    assert len(states["g-1"]["files"]["index"]) == 10
