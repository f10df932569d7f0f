"""Realistic input traffic at any size, for benchmarks and soak tests (deterministic from a seed).

Many groups, each configured and joined first, then mostly messages (work, with some chitchat,
ads, leaks and abuse mixed in), a few files, forwards and clock ticks, in time order.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Iterator

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
DEPARTMENTS = ("财务部", "研发中心", "市场部", "产品部", "销售部", "人力资源部", "运维部")
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "强", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞")

WORK = (
    "@{name} {topic}的{doc}今天下班前发我一下，谢谢",
    "【通知】{day}下午{hour}点在三楼会议室开{topic}评审会，请相关同事准时参加。",
    "{topic}第{n}版已经上传到群文件，请大家查收并反馈意见。",
    "收到，{hour}点前处理完。",
    "好的，我这边跟进一下{topic}的进度，有问题及时同步。",
    "{topic}测试环境部署完成，版本号 v{n}.{m}.{k}，请测试同学开始回归。",
    "订单号 2026030{m}{n:04d} 的报销流程卡在财务审批，麻烦看一下。",
    "本月{topic}预算执行率{pct}%，明细见附件。",
    "请问{topic}的接口文档在哪里？找了半天没找到。",
    "今天的站会改到{hour}点半，大家注意时间。",
)
OTHER = (
    ("chitchat", "哈哈哈周末去哪玩？听说新开了一家火锅店，{n}个人一起去吧"),
    ("chitchat", "今天中午吃啥？楼下那家面馆还不错"),
    ("ad", "限时特价！全场{pct}折，加微信 vx{n:06d} 领取优惠券，名额有限先到先得"),
    ("ad", "兼职刷单日赚{n}元，在家就能做，有意者私聊"),
    ("confidential", "客户张伟的手机 138{n:04d}{k:04d}，身份证 110101199003074573，尽快办理"),
    ("confidential", "测试库账号 root 密码: Pass{n}!，先用着"),
    ("abuse", "你是不是脑子有问题，这点事都做不好，废物"),
    ("rumour", "听说公司下个月要裁员百分之{pct}，赶紧转发告诉身边的人！"),
    ("illegal", "靠谱平台加微信下注，足球篮球都能买，稳赚不赔，新人送{n}元彩金"),
)
TOPICS = ("季度预算", "登录模块", "新品发布会", "供应商对账", "招聘计划", "数据迁移", "客户回访", "年度审计")
DOCS = ("报表", "方案", "周报", "合同草案", "测试报告")


def _name(rng: random.Random, dept: str) -> str:
    return f"{dept}-{rng.choice(SURNAMES)}{rng.choice(GIVEN)}"


def generate(n: int, groups: int = 200, seed: int = 7, violation_share: float = 0.12,
             start: datetime = START, rate_per_second: float = 5.0) -> Iterator[dict]:
    """`n` input events over `groups` groups. Event time advances by ~1/rate_per_second per event."""
    rng = random.Random(seed)
    members: dict[str, list[tuple[str, str]]] = {}
    clock = start
    produced = 0

    def envelope(kind: str, group_id: str, actor: tuple[str, str], **body) -> dict:
        nonlocal produced
        produced += 1
        eid = hashlib.blake2b(f"{seed}:{produced}".encode(), digest_size=8).hexdigest()
        return {"event_id": f"lg-{eid}", "type": kind, "ts": clock.isoformat(), "group_id": group_id,
                "actor": {"id": actor[0], "name": actor[1]}, **body}

    order = [f"lg-g{i:04d}" for i in range(groups)]
    while produced < n:
        clock += timedelta(seconds=rng.expovariate(rate_per_second))
        group = rng.choice(order)
        if group not in members:
            dept = rng.choice(DEPARTMENTS)
            admin = (f"{group}-u0", _name(rng, dept))
            members[group] = [admin] + [(f"{group}-u{i}", _name(rng, dept)) for i in range(1, rng.randint(4, 12))]
            yield envelope("group.configured", group, admin, group={
                "name": f"{dept}工作群", "kind": "department", "admins": [admin[0]], "owners": [admin[0]]})
            for m in members[group][1:]:
                if produced < n:
                    yield envelope("member.joined", group, admin, member={"id": m[0], "name": m[1]},
                                   approved_by=admin[0])
            continue
        actor = rng.choice(members[group])
        roll = rng.random()
        fill = {"name": rng.choice(members[group])[1].split("-")[-1], "topic": rng.choice(TOPICS),
                "doc": rng.choice(DOCS), "day": rng.choice("一二三四五"), "hour": rng.randint(2, 5),
                "n": rng.randint(1, 9999), "m": rng.randint(1, 9), "k": rng.randint(0, 9999),
                "pct": rng.randint(10, 95)}
        if roll < 0.02:
            yield envelope("clock.tick", group, ("system", "clock"))
        elif roll < 0.04:
            content = f"{fill['topic']}-{fill['n']}".encode()
            yield envelope("file.shared", group, actor, file={
                "id": f"f-{produced}", "name": f"{fill['topic']}_2026030{fill['m']}_{actor[1].split('-')[-1]}.xlsx",
                "size": 1024 * fill["n"], "folder": "工作资料", "sha256": hashlib.sha256(content).hexdigest()})
        elif roll < 0.045:
            yield envelope("message.forwarded", group, actor, message={"id": f"m-{produced - 1}"},
                           destination={"id": "ext-partner", "external": rng.random() < 0.5}, approved_by=None)
        else:
            if rng.random() < violation_share:
                _, template = rng.choice(OTHER)
            else:
                template = rng.choice(WORK)
            text = template.format(**fill)
            mentions = [rng.choice(members[group])[0]] if template.startswith("@") else []
            yield envelope("message.posted", group, actor, message={"id": f"m-{produced + 1}", "text": text,
                                                                   "mentions": mentions})
