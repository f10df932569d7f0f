"""The sample conversation the demo replays: three groups on one working Monday, with the kinds of
messages the policy cares about. Written for this project."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 3, 2, 9, 0, tzinfo=CST)  # a Monday, a working day
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

PEOPLE = {
    "u-wm": "财务部-王敏", "u-zs": "财务部-张三", "u-ls": "财务部-李四", "u-zl": "财务部 赵六",
    "u-cl": "研发中心-陈磊", "u-lt": "研发中心-刘涛", "u-hy": "产品部-黄艳", "u-sq": "市场部-孙强",
    "u-xw": "小王同学", "u-zj": "研发中心-周杰", "u-ext": "销售部-吴昊",
}


def conversation() -> list[dict]:
    events: list[dict] = []
    clock = {"t": DAY}

    def at(minutes: float) -> str:
        clock["t"] = DAY + timedelta(minutes=minutes)
        return clock["t"].isoformat()

    def add(kind: str, group_id: str, actor: str, minutes: float, **body) -> None:
        events.append({"event_id": f"demo-{len(events) + 1:03d}", "type": kind, "ts": at(minutes),
                       "group_id": group_id, "actor": {"id": actor, "name": PEOPLE.get(actor, actor)}, **body})

    def say(group_id: str, actor: str, minutes: float, text: str, **extra) -> None:
        add("message.posted", group_id, actor, minutes,
            message={"id": f"m-{len(events) + 1:03d}", "text": text, **extra})

    def file(group_id, actor, minutes, name, content: bytes, folder="项目资料", **extra):
        add("file.shared", group_id, actor, minutes, file={
            "id": f"f-{len(events) + 1:03d}", "name": name, "size": len(content), "folder": folder,
            "sha256": hashlib.sha256(content).hexdigest(), "head_b64": base64.b64encode(content[:64]).decode(),
            **extra})

    # --- 财务部 department group
    add("group.configured", "g-fin", "u-wm", 0, group={"name": "财务部工作群", "kind": "department",
                                                       "admins": ["u-wm"], "owners": ["u-wm"]})
    for i, member in enumerate(("u-zs", "u-ls", "u-zl")):
        add("member.joined", "g-fin", "u-wm", 1 + i, member={"id": member, "name": PEOPLE[member]}, approved_by="u-wm")
    add("member.joined", "g-fin", "u-zs", 5, member={"id": "u-xw", "name": PEOPLE["u-xw"]}, approved_by=None)
    say("g-fin", "u-wm", 10, "【通知】本周五前请各位提交三月份报销单据，逾期下月处理。")
    say("g-fin", "u-zs", 12, "收到，今天下班前提交。")
    say("g-fin", "u-wm", 15, "@李四 二月份的应收账款对账表今天下班前发我一下，谢谢", mentions=["u-ls"])
    say("g-fin", "u-ls", 25, "好的王总，下午三点前发您。")
    say("g-fin", "u-zs", 31, "客户的联系方式：张伟 13812345678，身份证号 110101199003074573，开户行卡号 6222021234567890128，麻烦尽快办理。")
    say("g-fin", "u-xw", 40, "哈哈哈哈今天中午吃啥啊，楼下新开的火锅店要不要去试试？")
    say("g-fin", "u-zl", 55, "报表里的数据不对吧，你是不是脑子有问题，这么简单都能算错，废物一个。")
    say("g-fin", "u-zl", 70, "你这个蠢货，别再给我发错的数据了。")
    add("message.forwarded", "g-fin", "u-zs", 80, message={"id": "m-007"},
        destination={"id": "ext-wechat-客户群", "external": True}, approved_by=None)
    file("g-fin", "u-ls", 90, "应收账款对账_20260302_李四.xlsx", b"PK\x03\x04" + b"\x00" * 60, folder="对账")
    file("g-fin", "u-zs", 95, "发票.pdf", b"MZ\x90\x00\x03" + b"\x00" * 59, folder=None)

    # --- Apollo project group
    add("group.configured", "g-apollo", "u-cl", 100, group={"name": "阿波罗项目组", "kind": "project",
                                                           "admins": ["u-cl"], "owners": ["u-cl", "u-hy"]})
    for i, member in enumerate(("u-lt", "u-hy", "u-zj", "u-sq")):
        add("member.joined", "g-apollo", "u-cl", 101 + i, member={"id": member, "name": PEOPLE[member]}, approved_by="u-cl")
    say("g-apollo", "u-cl", 110, "@刘涛 @周杰 登录接口的性能问题今天能定位吗？明天上午评审要用结论。", mentions=["u-lt", "u-zj"])
    say("g-apollo", "u-lt", 118, "在排查，初步看是数据库连接池配置太小，下午四点前给结论。")
    say("g-apollo", "u-zj", 125, "测试环境的数据库密码: Apollo@2026!，账号 root，大家先用着。")
    say("g-apollo", "u-sq", 140, "朋友推荐的靠谱平台，加微信 vx123456 领取新人彩金，足球 篮球都能下注，稳赚不赔！")
    say("g-apollo", "u-sq", 141, "加微信 vx123456 领取新人彩金，足球 篮球都能下注，稳赚不赔！")
    say("g-apollo", "u-sq", 142, "加微信 vx123456 领取新人彩金，足球篮球都能下注，稳赚不赔！！")
    say("g-apollo", "u-hy", 150, "听说公司下个月要裁员百分之三十，名单都定了，大家赶紧转发告诉身边的人！")
    say("g-apollo", "u-hy", 160, "【安全提醒】近期出现冒充IT部门索要验证码的诈骗电话，请大家提高警惕，不要透露任何验证码。")
    file("g-apollo", "u-lt", 170, "性能测试报告_20260302_刘涛.pdf", b"%PDF-1.7\n" + b"\x00" * 55)
    file("g-apollo", "u-zj", 175, "工具包_20260302_周杰.zip", EICAR)
    say("g-apollo", "u-zj", 600, "有人周末想一起打游戏吗？新出的那个挺好玩的")
    say("g-apollo", "u-lt", 780, "【紧急】线上登录服务宕机，正在回滚，影响约五分钟，稍后详细说明。", urgent=True)

    # --- cross-department group
    add("group.configured", "g-cross", "u-hy", 200, group={"name": "产研市场协同群", "kind": "cross_department",
                                                          "admins": ["u-hy"], "owners": ["u-hy"]})
    add("member.joined", "g-cross", "u-hy", 201, member={"id": "u-sq", "name": PEOPLE["u-sq"]}, approved_by="u-hy")
    add("member.joined", "g-cross", "u-hy", 202, member={"id": "u-ext", "name": PEOPLE["u-ext"]}, approved_by="u-hy")
    say("g-cross", "u-sq", 210, "新品发布会定在3月20日，市场部负责场地，产品部负责演示脚本，请各位确认分工。")
    say("g-cross", "u-ext", 215, "今天特价促销！全场五折，点击 http://t.cn/abc123 立即抢购，限时优惠仅此一天！")
    say("g-cross", "u-ext", 230, "今天特价促销！全场五折，点击链接立即抢购，限时优惠！")
    add("member.departed", "g-cross", "hr-roster", 240, member={"id": "u-ext"}, reason="离职")
    say("g-cross", "u-hy", 250, "内部资料，请勿外传：新品定价方案为每台3999元，渠道折扣八折。")
    add("clock.tick", "g-cross", "system", 60 * 30)
    # A week later the platform's heartbeat closes the week: responsiveness windows and the
    # weekly inspection report (D3) of each group come out.
    for group_id in ("g-fin", "g-apollo", "g-cross"):
        add("clock.tick", group_id, "system", 7 * 24 * 60 + 30)
    return events
