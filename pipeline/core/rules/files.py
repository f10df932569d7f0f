"""Group files: P9 upload checks (name, extension, content vs. extension, malware, folder) and F3
(scheduled notice to the admin: expired files, important files not backed up).

P9 gives one violation per shared file listing every problem found, so one upload is one step on
the ladder; malware and executables in disguise make it severe.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from pipeline.config import Files, Policy
from pipeline.core.events import FileShared
from pipeline.core.rules.base import Context, Finding, Violation, violation
from pipeline.core.state import GroupState

SECTION = "files"

# The EICAR anti-virus test file (https://www.eicar.org), split so this source is not itself flagged.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MARKER = b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE"

EXECUTABLE = "executable"
# Leading bytes → format. Checked in order; the first match wins.
MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"MZ", 0, EXECUTABLE),                       # Windows PE / DOS
    (b"\x7fELF", 0, EXECUTABLE),                  # Linux
    (b"\xcf\xfa\xed\xfe", 0, EXECUTABLE),         # Mach-O 64-bit
    (b"\xce\xfa\xed\xfe", 0, EXECUTABLE),         # Mach-O 32-bit
    (b"\xca\xfe\xba\xbe", 0, EXECUTABLE),         # Mach-O universal (also Java class)
    (b"%PDF-", 0, "pdf"),
    (b"PK\x03\x04", 0, "zip"),                    # also docx, xlsx, pptx, vsdx, xmind
    (b"PK\x05\x06", 0, "zip"),                    # empty zip
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "ole"),  # legacy doc, xls, ppt
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"Rar!\x1a\x07", 0, "rar"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7z"),
    (b"ftyp", 4, "mp4"),
)
# What each extension may really be. Extensions not listed are not sniffed (only executables are
# flagged for them).
EXPECTED = {
    "pdf": {"pdf"},
    "docx": {"zip"}, "xlsx": {"zip"}, "pptx": {"zip"}, "vsdx": {"zip"}, "xmind": {"zip"}, "zip": {"zip"},
    "doc": {"ole", "zip"}, "xls": {"ole", "zip"}, "ppt": {"ole", "zip"},
    "png": {"png"}, "jpg": {"jpeg"}, "jpeg": {"jpeg"}, "gif": {"gif"},
    "rar": {"rar"}, "7z": {"7z"}, "mp4": {"mp4"},
    "txt": {"text"}, "md": {"text"}, "csv": {"text"},
}
EXECUTABLE_EXTENSIONS = {"exe", "dll", "com", "scr", "msi", "bin", "elf", "so", "dylib", "app", "out"}


def on_event(ctx: Context) -> list[Finding]:
    if not isinstance(ctx.event, FileShared):
        return []
    found: list[Finding] = list(upload_checks(ctx))
    index_file(ctx)
    return found


# --------------------------------------------------------------------------- P9


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def decode_head(head_b64: str | None) -> bytes | None:
    if not head_b64:
        return None
    try:
        return base64.b64decode(head_b64, validate=False)
    except (binascii.Error, ValueError):
        return None


def sniff(head: bytes) -> str | None:
    """The format the first bytes show, `text` for printable text, or None when unknown."""
    for magic, offset, kind in MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return kind
    if head.startswith(b"#!"):
        return EXECUTABLE  # a script meant to run
    try:
        # Not final: the head may end inside a multi-byte character and still be text.
        sample = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        sample = None
    if sample is not None and all(c.isprintable() or c in "\r\n\t\ufeff" for c in sample):
        return "text"
    return None


@lru_cache(maxsize=8)
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def file_problems(file, cfg: Files) -> list[dict]:
    """Every P9 problem of one shared file: {check, detail, severe}."""
    problems: list[dict] = []
    ext = extension(file.name)
    if not _pattern(cfg.name_pattern).match(file.name):
        problems.append({"check": "name", "severe": False,
                         "detail": f"name “{file.name}” is not 主题_日期_作者 (e.g. 季度预算_20260302_张三.xlsx)"})
    if ext not in cfg.allowed_extensions:
        problems.append({"check": "extension", "severe": ext in EXECUTABLE_EXTENSIONS,
                         "detail": f"extension “{ext or '(none)'}” is not allowed"})
    head = decode_head(file.head_b64)
    if head is not None:
        kind = sniff(head)
        if kind == EXECUTABLE and ext not in EXECUTABLE_EXTENSIONS:
            problems.append({"check": "content", "severe": True,
                             "detail": f"a .{ext or '?'} file whose content is an executable program"})
        elif kind is not None and ext in EXPECTED and kind not in EXPECTED[ext]:
            problems.append({"check": "content", "severe": False,
                             "detail": f"a .{ext} file whose content looks like {kind}"})
        if EICAR_MARKER in head:
            problems.append({"check": "malware", "severe": True, "detail": "EICAR anti-virus test signature"})
    if file.sha256.lower() in cfg.blocked_sha256:
        problems.append({"check": "malware", "severe": True, "detail": "sha256 on the block-list"})
    if cfg.require_folder and not (file.folder or "").strip():
        problems.append({"check": "folder", "severe": False, "detail": "not filed in a group folder"})
    return problems


ACTIONS = {
    "name": "请按“主题_日期_作者”命名",
    "extension": "请仅上传允许的文件格式",
    "content": "文件内容与扩展名不符，请勿上传可执行程序",
    "malware": "文件疑似病毒或恶意程序，已报上级处理，请立即删除",
    "folder": "请上传到群文件对应的分类文件夹",
}


def upload_checks(ctx: Context) -> list[Violation]:
    event = cast(FileShared, ctx.event)
    problems = file_problems(event.file, ctx.policy.files)
    if not problems:
        return []
    severe = any(p["severe"] for p in problems)
    checks = list(dict.fromkeys(p["check"] for p in problems))
    return violation(
        ctx, "P9", member_id=event.actor.id, member_name=event.actor.name,
        severity="severe" if severe else None,
        evidence={"event_ids": [event.event_id], "file_id": event.file.id, "file_name": event.file.name,
                  "folder": event.file.folder, "sha256": event.file.sha256.lower(), "checks": checks,
                  "problems": [{"check": p["check"], "detail": p["detail"]} for p in problems]},
        action="群文件：" + "；".join(ACTIONS[c] for c in checks) + "。")


# --------------------------------------------------------------------------- file index and F3


def is_important(file, cfg: Files) -> bool:
    return file.important or any(marker in file.name for marker in cfg.important_markers)


def is_backup_folder(folder: str | None, cfg: Files) -> bool:
    return bool(folder) and any(marker.lower() in folder.lower() for marker in cfg.backup_folder_markers)


def index_file(ctx: Context) -> None:
    """Remember the file for F3; a copy in a backup folder (or a backed_up flag) backs up every
    indexed file with the same content."""
    event = cast(FileShared, ctx.event)
    file, cfg = event.file, ctx.policy.files
    section = ctx.state.section(SECTION)
    section["group_id"] = event.group_id
    index: dict = section.setdefault("index", {})
    sha = file.sha256.lower()
    backed_up = file.backed_up or is_backup_folder(file.folder, cfg)
    if backed_up:
        for entry in index.values():
            if entry["sha256"] == sha:
                entry["backed_up"] = True
    previous = index.pop(file.id, None)  # re-inserted last: the index is ordered oldest first
    index[file.id] = {
        "name": file.name, "shared": previous["shared"] if previous else event.ts.isoformat(),
        "by": event.actor.id, "by_name": event.actor.name, "sha256": sha, "folder": file.folder,
        "important": is_important(file, cfg) or bool(previous and previous["important"]),
        "backed_up": backed_up or bool(previous and previous["backed_up"]),
        "noticed": previous["noticed"] if previous else [],
    }
    while len(index) > cfg.max_indexed_files:
        del index[next(iter(index))]
    section["due"] = _iso(_files_due(index, cfg))


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _notices_due(entry: dict, cfg: Files) -> list[tuple[str, datetime]]:
    shared = datetime.fromisoformat(entry["shared"])
    due = []
    if "expired_file" not in entry["noticed"]:
        due.append(("expired_file", shared + timedelta(days=cfg.retention_days)))
    if entry["important"] and not entry["backed_up"] and "backup_missing" not in entry["noticed"]:
        due.append(("backup_missing", shared + timedelta(days=cfg.backup_grace_days)))
    return due


def _files_due(index: dict, cfg: Files) -> datetime | None:
    return min((when for entry in index.values() for _, when in _notices_due(entry, cfg)), default=None)


def next_due(state: GroupState, policy: Policy) -> datetime | None:
    due = state.data.get(SECTION, {}).get("due")
    return datetime.fromisoformat(due) if due else None


NOTICE_ACTIONS = {
    "expired_file": "文件已超过保存期限（{days} 天），请管理员清理。",
    "backup_missing": "重要文件上传已超过 {days} 天仍未备份，请管理员备份。",
}


def on_schedule(ctx: Context) -> list[Finding]:
    cfg = ctx.policy.files
    section = ctx.state.section(SECTION)
    index: dict = section.get("index", {})
    recipients = {"admins": list(ctx.state.admins) or list(ctx.state.owners)}
    found: list[Finding] = []
    for file_id, entry in list(index.items()):
        for notice, when in _notices_due(entry, cfg):
            if when > ctx.now:
                continue
            entry["noticed"].append(notice)
            days = cfg.retention_days if notice == "expired_file" else cfg.backup_grace_days
            found += violation(
                ctx, "F3", member_id=entry["by"], member_name=entry["by_name"], escalate=False,
                source_id=f"{notice}:{file_id}:{entry['shared']}",
                evidence={"file_id": file_id, "file_name": entry["name"], "shared": entry["shared"],
                          "folder": entry["folder"], "notice": notice},
                action=NOTICE_ACTIONS[notice].format(days=days), notice=notice, recipients=recipients)
        if "expired_file" in entry["noticed"]:
            # The admin has been told to clean it out; the index keeps only live files.
            del index[file_id]
    section["due"] = _iso(_files_due(index, cfg))
    return found
