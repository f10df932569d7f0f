"""A first classifier: keyword cues per class. The trained model replaces it."""
from __future__ import annotations

from typing import Sequence

from pipeline.classify.verdict import LABELS, Finding, Verdict
from pipeline.text.redact import excerpt, redact

_CUES = {
    "illegal": ("赌", "博彩", "菠菜", "百家乐", "六合彩", "诈骗", "刷单", "洗钱", "代开发票"),
    "ad": ("优惠", "促销", "加微信", "加我微信", "代理", "招商", "限时", "特价", "免费领取"),
    "rumour": ("震惊", "紧急扩散", "转发告诉", "内部消息称", "据说要裁员"),
    "abuse": ("傻逼", "滚", "去死", "废物", "蠢货", "白痴"),
    "confidential": ("机密", "绝密", "内部资料", "工资条", "薪资表", "密码"),
    "chitchat": ("哈哈", "吃啥", "周末去", "好无聊", "打游戏", "八卦"),
}
_SUB = {"illegal": lambda t: "gambling" if any(w in t for w in ("赌", "博彩", "菠菜", "百家乐", "六合彩")) else "fraud",
        "abuse": lambda t: "attack"}


class KeywordClassifier:
    def __init__(self, policy=None):
        self.policy = policy

    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        return [self._one(t) for t in texts]

    def _one(self, text: str) -> Verdict:
        hits = {label: [w for w in words if w in text] for label, words in _CUES.items()}
        pii = redact(text) != text
        if pii:
            hits["confidential"] = hits["confidential"] + ["personal data"]
        label = next((lab for lab in ("illegal", "confidential", "abuse", "ad", "rumour", "chitchat") if hits[lab]), "work")
        scores = {lab: (0.9 if lab == label else 0.1 / (len(LABELS) - 1)) for lab in LABELS}
        reasons = tuple(f"keywords {label}: {', '.join(hits[label])}") if label != "work" else ()
        reasons = (f"keywords for {label}: {', '.join(hits[label])}",) if label != "work" else ()
        findings = (Finding("pii:pattern", "personal data pattern"),) if pii else ()
        sub = _SUB[label](text) if label in _SUB else None
        return Verdict(label, {k: round(v, 4) for k, v in scores.items()}, reasons, excerpt(text), sub, findings)
