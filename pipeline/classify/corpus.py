"""The project's own synthetic work-group corpus (what no public data set covers).

Everything here is SYNTHETIC: template sentences written for this project and filled with random
names, departments, projects, times, numbers and (fake, checksum-valid) identifiers. It covers
realistic work-group chat (notices, task assignments, progress, questions, acknowledgements),
idle chat and flooding, ads, workplace rumours, abuse, leaks of ids/cards/credentials and
company secrets, gambling and fraud, and hard near-misses (a security notice that mentions fraud
or passwords is work). `generate(seed, n_per_class)` is deterministic.

The hand-labelled sets in tests/data/workchat_{dev,test}.jsonl are written separately and are
never generated from these templates nor trained on.
"""
from __future__ import annotations

import random
import string

SURNAMES = "张王李赵刘陈杨黄周吴徐孙马胡朱郭何罗高林郑梁谢唐许冯宋韩邓彭曹曾田萧潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平",
         "刚", "桂英", "晨", "浩", "宇", "欣怡", "子涵", "梓萱", "一鸣", "思远", "佳琪", "俊杰", "雨桐", "建国", "建华", "海燕", "志强",
         "文博", "晓东", "晓梅", "鹏", "婷", "颖", "斌", "凯", "琳", "丹", "倩", "亮", "飞"]
DEPTS = ["财务部", "研发中心", "研发部", "人力资源部", "人事部", "市场部", "销售部", "行政部", "法务部", "产品部", "运维部",
         "信息安全部", "采购部", "客服部", "质量部", "总经办", "测试部", "设计部", "供应链", "华东区", "数据组", "前端组", "后端组"]
PROJECTS = ["星河项目", "CRM升级", "二期工程", "ERP迁移", "新官网", "小程序", "年度审计", "618大促", "数据中台", "支付网关",
            "供应商门户", "OA改造", "A轮材料", "海外站", "客户满意度调研", "质量体系认证", "机房搬迁", "风控模型", "会员系统", "直播项目"]
DOCS = ["周报", "月报", "会议纪要", "需求文档", "测试报告", "预算表", "排期表", "立项书", "验收单", "方案PPT", "操作手册",
        "接口文档", "设计稿", "报销单", "采购申请", "投标文件", "复盘报告", "值班表", "培训课件", "SOP"]
SYSTEMS = ["OA", "ERP", "CRM", "Jira", "GitLab", "钉盘", "飞书文档", "企业网盘", "报销系统", "考勤系统", "测试环境", "预发环境",
           "VPN", "工单系统", "知识库", "监控平台", "堡垒机", "邮件系统"]
PLACES = ["3楼大会议室", "5号会议室", "302会议室", "腾讯会议", "线上", "A座12层", "培训教室", "一楼大厅", "B1多功能厅", "二号楼405"]
WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "下周一", "下周三", "明天", "后天", "今天下午", "今晚", "本周五", "月底前"]
TIMES = ["9点", "9:30", "10点", "10:30", "14:00", "下午2点", "下午3点半", "15:00", "16:30", "17点", "上午11点", "晚上8点"]
FOODS = ["火锅", "烧烤", "麻辣烫", "螺蛳粉", "奶茶", "炸鸡", "饺子", "烤鱼", "黄焖鸡", "轻食沙拉", "小龙虾", "兰州拉面"]
EMOJI = ["😂", "🤣", "[捂脸]", "[呲牙]", "[偷笑]", "👍", "[OK]", "🙏", "😄", "[旺柴]", "[抱拳]", "🎉", "", "", "", ""]
PLATFORMS = ["澳门金沙", "威尼斯人", "皇冠体育", "永利", "亚博", "开元棋牌", "BET365", "新葡京", "银河娱乐", "大发"]
PRODUCTS = ["面膜", "减肥茶", "保险", "理财产品", "学区房", "二手车", "茶叶", "燕窝", "保健品", "课程", "会员卡", "网课", "口红", "酒水"]


def _name(r: random.Random) -> str:
    return r.choice(SURNAMES) + r.choice(GIVEN)


def _phone(r: random.Random) -> str:
    return r.choice(["13", "15", "18", "17", "19"]) + str(r.randint(0, 9)) + "".join(r.choice(string.digits) for _ in range(8))


def _resident_id(r: random.Random) -> str:
    from pipeline.text.detect import _ID_CHECK, _ID_WEIGHTS

    region = r.choice(["110105", "310104", "440305", "330106", "510107", "420106", "320102", "610113", "370202"])
    body = f"{region}{r.randint(1960, 2003)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS)) % 11].upper()


def _card(r: random.Random) -> str:
    body = r.choice(["622202", "622848", "621700", "622588", "623668", "456351", "518710"]) + "".join(
        r.choice(string.digits) for _ in range(r.choice([9, 12])))
    for check in range(10):
        cand = body + str(check)
        total = 0
        for i, c in enumerate(reversed(cand)):
            d = int(c) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return cand
    return body + "0"


def _fmt_card(r: random.Random, card: str) -> str:
    return " ".join(card[i:i + 4] for i in range(0, len(card), 4)) if r.random() < 0.4 else card


def _password(r: random.Random) -> str:
    return r.choice(["Abc", "Qwe", "Admin", "Zx", "Pass", "Hr", "Fin", "Root"]) + r.choice(["@", "#", "!", "_", ""]) + str(r.randint(100, 99999))


def _wxid(r: random.Random) -> str:
    return r.choice(string.ascii_lowercase) + "".join(r.choice(string.ascii_lowercase + string.digits + "_") for _ in range(r.randint(5, 11)))


def _order(r: random.Random) -> str:
    return r.choice(["", "DD", "PO", "SO", "WO"]) + f"2024{r.randint(1, 12):02d}{r.randint(1, 28):02d}" + str(r.randint(1000, 999999))


def _amount(r: random.Random) -> str:
    return r.choice([f"{r.randint(1, 999)},{r.randint(100, 999)}.{r.randint(0, 99):02d}", str(r.randint(100, 99999)),
                     f"{r.randint(1, 500)}万", f"{r.randint(1, 99)}.{r.randint(1, 9)}万"])


def _url(r: random.Random) -> str:
    # short links too: without them the short-link detector is learnt from the public fraud texts alone
    if r.random() < 0.35:
        return (r.choice(["http://t.cn/", "https://t.cn/", "dwz.cn/", "url.cn/", "https://suo.im/"])
                + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(r.randint(5, 7))))
    return (r.choice(["http://", "https://", "www.", ""]) + "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(3, 7)))
            + r.choice([".com", ".cn", ".vip", ".top", ".cc"]) + r.choice(["", "/a/" + str(r.randint(10, 999))]))


def _fill(r: random.Random, tpl: str) -> str:
    values = {
        "name": _name(r), "name2": _name(r), "dept": r.choice(DEPTS), "proj": r.choice(PROJECTS),
        "doc": r.choice(DOCS), "sys": r.choice(SYSTEMS), "place": r.choice(PLACES), "day": r.choice(WEEKDAYS),
        "time": r.choice(TIMES), "food": r.choice(FOODS), "e": r.choice(EMOJI), "n": str(r.randint(2, 30)),
        "pct": str(r.randint(10, 99)), "phone": _phone(r), "id": _resident_id(r), "card": _fmt_card(r, _card(r)),
        "pwd": _password(r), "wx": _wxid(r), "order": _order(r), "amount": _amount(r),
        "ver": f"v{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 30)}",
        "date": r.choice([f"{r.randint(1, 12)}月{r.randint(1, 28)}日", f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                          f"{r.randint(1, 12)}/{r.randint(1, 28)}"]),
        "plat": r.choice(PLATFORMS), "prod": r.choice(PRODUCTS), "qq": str(r.randint(10000, 9999999999)),
        "ip": f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        "url": _url(r), "tplace": r.choice(TRADE_PLACES), "trole": r.choice(TRADE_ROLES), "tthing": r.choice(TRADE_THINGS),
        "email": "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(3, 8))) + "@" + r.choice(["163.com", "qq.com", "company.com", "gmail.com", "corp.cn"]),
        "addr": r.choice(["北京市朝阳区", "上海市浦东新区", "深圳市南山区", "杭州市西湖区", "成都市武侯区", ""]) + r.choice(["建国路", "科技园南路", "文三路", "人民大道", "天府大道", "中山路"]) + f"{r.randint(1, 999)}号" + r.choice(["", f"{r.randint(1, 30)}栋{r.randint(101, 2505)}室", f"{r.randint(1, 9)}单元{r.randint(101, 1808)}"]),
    }
    return tpl.format(**values)


WORK = [
    # notices
    "【通知】{day}{time}在{place}召开{proj}周例会，请相关同事准时参加。",
    "各位同事：{date}起{sys}将进行升级维护，期间暂停使用，请提前保存工作。",
    "通知：本月报销单请于{date}前提交至{dept}，逾期顺延到下月处理。",
    "@所有人 {day}{time}全员大会，地点{place}，请大家安排好时间。",
    "【重要】{proj}上线时间调整为{date}，各组按新排期推进。",
    "提醒一下，{doc}模板已更新，在{sys}里下载最新版。",
    "{dept}通知：{date}消防演练，听到警报后从安全通道有序撤离。",
    "下周起打卡改为{sys}，请大家今天内完成绑定。",
    "年度体检预约已开放，{date}前在{sys}选择时间段。",
    "请各部门{date}前提交下季度预算，模板见群文件。",
    "会议纪要已上传群文件，{proj}的待办事项请各负责人确认。",
    "今天{time}前把{doc}发到群里，{name}汇总后发给{dept}。",
    "端午节放假安排：{date}至{date}放假调休，请做好工作交接。",
    "{proj}评审会改到{day}{time}，会议室{place}。",
    # security / near-miss notices
    "【安全提醒】近期有冒充领导要求转账的诈骗，凡涉及付款请电话核实，切勿轻信。",
    "信息安全部提醒：不要在群里发送账号密码、身份证号等敏感信息，如需传递请走加密邮件。",
    "反诈宣传：公检法不会通过电话要求转账到安全账户，请大家提高警惕。",
    "提醒大家，{sys}密码每90天需要修改一次，密码长度至少8位。",
    "近期钓鱼邮件增多，不要点击陌生链接，发现可疑邮件转给{dept}。",
    "合规培训：严禁参与任何形式的赌博、刷单，违者按制度处理，培训课件见群文件。",
    "收到冒充客服的退款电话请直接挂断，如有疑问联系{dept}。",
    "内部资料请勿外传，这是制度要求，大家注意一下文件权限设置。",
    "关于涉密文件管理的规定已发布，请大家认真学习并签字确认。",
    "财务提醒：任何人通过微信要求转账都要电话确认，防止被骗。",
    "法务部整理了常见诈骗手法的案例，供大家学习参考，请勿转发外部。",
    "今天的培训主题是防范电信诈骗和网络赌博，{time}在{place}。",
    "谣言止于智者，关于公司搬迁的说法都不属实，以正式通知为准。",
    "如发现有人在群内发广告或者拉人赌博，请及时反馈给管理员。",
    # tasks
    "@{name} 麻烦把{proj}的{doc}今天下班前发我一下",
    "@{name} 这个bug你跟进一下，工单号{order}",
    "@{name} @{name2} {day}{time}前把{doc}改好，我要给客户看",
    "{name}负责对接{dept}，{name2}负责{doc}，有问题随时群里同步。",
    "这个需求先排到下个迭代，@{name} 评估一下工作量。",
    "@{name} 客户那边催了，{proj}的报价能不能{day}给到？",
    "麻烦{dept}的同事帮忙看一下{sys}登录不了的问题",
    "@{name} 请协助核对一下订单{order}的发货状态",
    "@{name} {doc}第{n}页的数据和系统对不上，帮忙再核一下",
    "请{name}今天把{proj}的风险点整理一下发群里",
    "{doc}的初稿我放群文件了，大家{day}前提修改意见。",
    "@{name} 合同第{n}条的付款比例请法务再确认一下",
    # progress
    "{proj}进度：开发完成{pct}%，测试预计{day}开始。",
    "{ver}已经发布到{sys}，变更说明见{doc}。",
    "订单{order}已发货，预计{date}到达。",
    "{proj}本周完成{n}个需求，遗留{n}个问题，详见{doc}。",
    "{sys}故障已恢复，影响时间约{n}分钟，原因稍后出复盘报告。",
    "回款{amount}元已到账，财务已确认。",
    "今日销售额{amount}元，完成月目标的{pct}%。",
    "测试环境已部署{ver}，请{name}验证一下。",
    "{doc}已提交审批，流程在{name}那里。",
    "{proj}的接口联调完成，{date}可以提测。",
    "服务器{ip}磁盘使用率{pct}%，已清理日志。",
    "第{n}批物料已入库，数量{amount}件，单号{order}。",
    "截至{date}，{proj}累计投入{amount}元，未超预算。",
    "发票{amount}元已开好，快递单号SF{order}",
    # questions
    "请问{proj}的{doc}放在哪个目录？",
    "{sys}是不是又打不开了？有人遇到吗",
    "请问{date}的会议还开吗？",
    "{doc}的模板谁有？麻烦发一下",
    "大家{day}{time}有空吗？想约个会过一下{proj}",
    "这个报销需要哪些附件？",
    "{name}，{proj}的合同盖章了吗？",
    "请问{ver}修复了导出报错的问题吗？",
    "新同事的电脑权限找谁开通？",
    "有人知道{sys}的账号怎么申请吗",
    "{dept}的对接人是谁？",
    # acks
    "收到", "收到，谢谢", "好的", "好的，马上处理", "明白", "已处理", "已完成", "没问题", "了解", "OK",
    "收到，{day}前给到", "好的我跟进一下", "收到，稍后回复", "已阅", "已确认", "收到👍", "好的{e}", "马上改",
    "我在开会，{time}后回复你", "在路上，晚点处理", "今天请假，明天一早处理可以吗", "我看一下，稍等",
    "这个我来负责", "已提交，请审批", "已更新，请查收", "辛苦了", "谢谢{name}", "感谢大家配合",
    "我明天出差，相关事宜找{name}", "已经发你邮箱了", "稍等，我确认一下", "{name}已经回复客户了",
]

CHITCHAT = [
    "中午吃什么？{food}怎么样{e}", "哈哈哈哈哈{e}", "今天好冷啊", "周末有人去爬山吗", "下午茶谁请客{e}", "今晚{food}走起",
    "昨晚的球赛你们看了吗", "好困啊，想睡觉{e}", "谁有好看的剧推荐一下", "我家猫今天把花瓶打了{e}", "这天气太热了",
    "{name}今天穿得好帅{e}", "终于周五了{e}{e}", "楼下新开了一家{food}，味道不错", "有人一起拼单奶茶吗",
    "早上地铁挤死了", "今天股票又绿了{e}", "哈哈哈笑死我了", "666666", "[强][强][强]", "{e}{e}{e}", "晚上打游戏吗",
    "放假去哪玩啊", "你们看那个综艺了吗，太好笑了", "我减肥失败了{e}", "求推荐个好用的耳机", "今天的瓜你们吃了吗",
    "周末去看电影吗", "好无聊啊", "明星离婚了你们知道吗", "明天又是周一，不想上班{e}", "谁要{food}，我点外卖",
    "来来来，斗图", "早上好{e}", "晚安", "生日快乐{e}{e}", "哈哈哈哈哈哈哈哈", "在吗在吗", "我先摸会鱼{e}",
    "今天心情不错", "晒一下我家狗子", "有没有人一起健身", "这个表情包好可爱", "打卡第{n}天{e}", "冲冲冲",
    "下雨了，没带伞{e}", "刚才电梯里遇到老板，好尴尬", "抽奖抽到一个杯子{e}", "今天去相亲了", "新年快乐",
    "hhhhhh", "啊啊啊啊啊", "顶", "沙发", "+1", "1111111", "哈哈", "{e}",
]

FLOOD_UNITS = ["哈", "6", "顶", "[强]", "😂", "啊", "1", "[玫瑰]", "冲", "+1 "]

AD = [
    "{prod}特价促销，限时{n}折，加微信{wx}咨询", "新店开业大酬宾，{prod}买一送一，地址{addr}", "厂家直销{prod}，一手货源，有意者私聊",
    "招代理！{prod}月入过万，加V：{wx}", "{prod}团购，满{n}件包邮，扫码进群", "专业代写论文、PPT，价格优惠，QQ{qq}",
    "朋友开的{prod}店，全场低至{n}折，链接{url}", "学区房急售，价格可谈，电话{phone}", "低息贷款，当天放款，联系{phone}",
    "刷粉涨粉引流，专业团队，vx {wx}", "免费领取{prod}试用装，点击{url}", "代购{prod}，正品保证，需要的私聊我",
    "帮朋友推广一下，{prod}{n}元一份，需要的找我", "engineering团队推荐：{prod}限时秒杀 {url}", "点击链接领红包 {url}",
    "专业装修，免费设计，咨询热线{phone}", "【{prod}】新品上市，前{n}名下单送礼品，回T退订", "高价回收二手手机、电脑，上门服务{phone}",
    "投资理财年化{pct}%，保本保息，加微信{wx}", "兼职招聘，在家也能做，薇信：{wx}", "{prod}微商招募代理，零门槛",
    "大家帮忙砍一刀 {url}", "拼多多助力一下 {url} 谢谢", "健身房年卡转让，价格可议，私聊",
]

RUMOUR = [
    "听说公司要裁员{pct}%，{dept}第一批", "内部消息，下个月工资要延迟发放", "紧急扩散！{date}起{sys}要收费了，赶紧转发",
    "据说老板跑路了，大家小心", "网传{dept}的{name}被抓了，真的假的", "听说年终奖取消了，内部消息千万别外传",
    "震惊！喝{food}会致癌，赶紧告诉家人", "转发告诉大家，明天开始全市停水三天", "小道消息，公司要被收购了，股票要涨",
    "紧急通知：{date}起微信要收费，转发到10个群可以免费", "据说{proj}黄了，团队要解散", "有人说隔壁公司倒闭了，我们也快了",
    "速转！{addr}附近有人贩子出没", "听说体检查出问题的都会被辞退", "传言下个月要全员降薪{pct}%", "内部消息称{dept}整个部门都要裁掉",
    "千万不要吃{food}，已经有人中毒死了，官方还没公布", "据可靠消息，{date}要地震，大家做好准备", "工资发不出来了，财务说账上没钱了",
    "听说新来的领导是关系户，要清洗老员工", "紧急扩散，{sys}账号要被封，赶紧备份",
]

ABUSE = [
    ("attack", "@{name} 你是猪脑子吗，这点事都做不好"), ("attack", "{name}你就是个废物"), ("attack", "什么东西，滚出去"),
    ("attack", "跟你这种蠢货共事真是倒霉"), ("attack", "你有病吧，听不懂人话？"), ("attack", "{name}这个脑残又把事情搞砸了"),
    ("attack", "你配吗？也不看看自己什么水平"), ("attack", "{dept}的都是一群白痴"), ("attack", "真不要脸，抢别人功劳"),
    ("attack", "弱智才会这么写代码"), ("attack", "{name}就是个人渣，大家离他远点"), ("attack", "没脑子的东西，别在群里丢人现眼"),
    ("vulgar", "卧槽，傻逼客户又来了"), ("vulgar", "他妈的又加班"), ("vulgar", "操你妈，谁动我东西了"), ("vulgar", "妈的，烦死了"),
    ("vulgar", "尼玛这需求改了{n}遍了"), ("vulgar", "发个黄片给大家提提神"), ("vulgar", "晚上约炮吗{e}"),
    ("violent", "再让我加班我就砍死他"), ("violent", "{name}你等着，下班我弄死你"), ("violent", "信不信我打断你的腿"),
    ("violent", "谁再催我就揍死谁"), ("violent", "我要放火烧了这破公司"), ("terror", "教大家自制炸药，配方如下"),
    ("terror", "我要在公司放个炸弹"), ("terror", "支持圣战，加入我们"), ("attack", "{name}你算个什么东西"),
]

CONFIDENTIAL = [
    "{name}的身份证号{id}，帮忙订一下机票", "我的银行卡号{card}，{name}，报销打这个卡", "{sys}账号admin 密码{pwd}",
    "服务器{ip} root密码：{pwd}", "数据库连接 mysql://root:{pwd}@{ip}:3306/prod", "这是{dept}的工资表，{name}月薪{amount}，别外传",
    "客户{name}，电话{phone}，身份证{id}，地址{addr}", "【绝密】{proj}投标底价{amount}元，仅限内部", "内部资料：{proj}收购方案，请勿外传",
    "{name}的工资条：基本工资{amount}，绩效{amount}", "{sys}的token={wx}{n}{wx}", "api_key: sk-{wx}{wx}{wx}{wx}",
    "新员工{name} 身份证{id} 手机{phone} 银行卡{card}", "合同金额{amount}万，付款账号{card}，不要发给外部", "客户名单已导出，{name} {phone}，{name2} {phone}",
    "VPN账号{wx} 密码是{pwd}", "机密文件：{proj}财务报表，净利润{amount}", "把{name}的家庭住址发你：{addr}",
    "测试一下 password={pwd} 能不能登录", "年终奖方案（机密）：{dept}人均{amount}", "{name}，你的初始密码为{pwd}，登录后修改",
    "邮箱{email} 密码{pwd}，帮我查下邮件", "供应商报价单（内部）：{prod}成本价{amount}元", "这是客户的身份证照片和号码{id}",
    "AK: AKIAIOSFODNN7{n}EXAMPLE".replace("{n}", "ABC"), "redis://:{pwd}@{ip}:6379/0 这个是生产的", "{name}病历：诊断为抑郁症，请假{n}天，别传出去",
]

ILLEGAL = [
    ("gambling", "{plat}真人荷官在线发牌，首充送{pct}%彩金，加微信{wx}"), ("gambling", "足球竞猜，稳赚不赔，跟单群QQ{qq}"),
    ("gambling", "菠菜平台推荐，提款秒到，{url}"), ("gambling", "百家乐计划群，带你赢，日赚{amount}"), ("gambling", "今晚世界杯一起赌球吗，我有盘口"),
    ("gambling", "网上棋牌平台，充值返水，{url}"), ("gambling", "六合彩内部资料，必中特码，私聊"), ("gambling", "{plat}新用户注册送{n}元，可直接提现"),
    ("gambling", "北京赛车pk10计划，胜率{pct}%，进群{url}"), ("gambling", "线上赌场，上分下分找我，v信{wx}"), ("gambling", "谁要一起炸金花，一把{n}块"),
    ("fraud", "兼职刷单，日结工资，佣金{pct}%，加微信{wx}"), ("fraud", "我是{name}总，换号了，你先帮我转{amount}到这个账户{card}"),
    ("fraud", "无抵押贷款，黑户可贷，秒批，联系{phone}"), ("fraud", "您的账户涉嫌洗钱，请将资金转入安全账户配合调查"),
    ("fraud", "代办信用卡，信用卡套现，手续费低"), ("fraud", "投资导师带你炒虚拟币，稳赚不赔，一个月翻倍"), ("fraud", "把验证码发给我，我帮你领补贴"),
    ("fraud", "快递丢失理赔，点击链接填写银行卡 {url}"), ("fraud", "明天来我办公室，先帮我转{amount}给客户，急"), ("fraud", "征信修复，洗白征信，联系{phone}"),
    ("other", "代开发票，各类增值税发票，联系{phone}"), ("other", "办证：毕业证、身份证，QQ{qq}"), ("other", "出售银行卡四件套，价格好说"),
    ("other", "收购银行卡，一张{amount}元"), ("other", "出售公民信息，{n}万条，价格私聊"), ("other", "代考各类证书，包过"),
]


def _flood(r: random.Random) -> str:
    unit = r.choice(FLOOD_UNITS)
    return unit * r.randint(3, 15)


def _leet(r: random.Random, text: str) -> str:
    """Obfuscate a little as spammers do: separators, full-width digits, variants."""
    p = r.random()
    if p < 0.15:
        return " ".join(text[: min(8, len(text))]) + text[min(8, len(text)):]
    if p < 0.25:
        return text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if p < 0.32:
        return text.replace("微信", r.choice(["薇信", "V信", "vx", "威信"]))
    return text


def generate(seed: int = 13, n_per_class: dict[str, int] | None = None) -> list[dict]:
    """Deterministic synthetic examples: {"text", "label", "sub_label", "source": "project_synthetic"}."""
    r = random.Random(seed)
    n = {"work": 9000, "chitchat": 2500, "ad": 2000, "rumour": 1500, "abuse": 1500, "confidential": 2500, "illegal": 2500}
    n.update(n_per_class or {})
    out: list[dict] = []

    def add(text, label, sub=None):
        out.append({"text": text, "label": label, "sub_label": sub, "source": "project_synthetic"})

    for _ in range(n["work"]):
        t = _fill(r, r.choice(WORK))
        if r.random() < 0.12:  # two short lines in one message
            t = t + r.choice(["，", "。", " ", "\n"]) + _fill(r, r.choice(WORK))
        add(t, "work")
    for i in range(n["chitchat"]):
        t = _flood(r) if i % 6 == 0 else _fill(r, r.choice(CHITCHAT))
        add(t, "chitchat")
    for _ in range(n["ad"]):
        add(_leet(r, _fill(r, r.choice(AD))), "ad")
    for _ in range(n["rumour"]):
        add(_fill(r, r.choice(RUMOUR)), "rumour")
    for _ in range(n["abuse"]):
        sub, tpl = r.choice(ABUSE)
        add(_fill(r, tpl), "abuse", sub)
    for _ in range(n["confidential"]):
        add(_fill(r, r.choice(CONFIDENTIAL)), "confidential")
    for _ in range(n["illegal"]):
        sub, tpl = r.choice(ILLEGAL)
        add(_leet(r, _fill(r, tpl)), "illegal", sub)
    r.shuffle(out)
    return out


# ---------------------------------------------------------------------------- compositional parts
# Messages assembled from independent fragments, so the model sees many combinations rather than a
# few fixed sentences.

ACK_HEAD = ["收到", "好的", "好嘞", "好滴", "嗯嗯", "嗯", "ok", "OK", "明白", "明白了", "知道了", "了解", "没问题", "可以",
            "行", "好", "收到收到", "好的好的", "已收到", "懂了", "对的", "是的", "同意", "赞同", "+1，同意"]
ACK_TAIL = ["", "", "，晚点给你", "，我看下", "，马上改", "，{time}前发你", "，稍后回复", "，我跟进", "，{day}给你答复",
            "，已经在处理了", "，辛苦", "，谢谢", "，我这边没问题", "，按这个来", "，我去确认一下", "，我在外面，回去处理",
            "，改好了再发群里", "，等我开完会", "，我通知一下{name}", "，今天搞定"]
WORK_SUBJ = ["{proj}", "{doc}", "这个需求", "这个bug", "客户的反馈", "合同", "发票", "报价", "排期", "方案", "测试用例",
             "上线", "验收", "预算", "招聘", "入职手续", "采购单", "对账", "数据报表", "权限申请", "机器采购", "年审材料"]
WORK_PRED = ["今天能完成吗", "谁在跟进", "进展怎么样了", "已经更新了", "{day}前要定下来", "需要{dept}配合一下", "我这边有点疑问",
             "还差{n}项没完成", "已经发给客户确认", "等{name}审批", "有变化随时同步", "我整理好放群文件了",
             "延期到{date}", "明天开会过一下", "卡在{dept}那边了", "第一版已经出了", "按计划进行中", "有风险，需要讨论一下",
             "帮忙看下有没有问题", "下周一上线"]
WORK_EXTRA = ["我{day}请假，有事找{name}", "我在出差，{day}回来处理", "今天居家办公，有事电话联系", "{name}下周一入职，请{dept}准备工位",
              "辛苦各位，{proj}顺利验收了", "恭喜{proj}团队按时交付", "感谢{dept}的支持", "项目奖金方案已发邮件，请查收",
              "大家注意，{date}的发布窗口已锁定", "这个口径和上次不一样，我再确认一下", "报错日志贴一下：timeout at line {n}",
              "这个问题我{day}前给答复", "我网络有点卡，晚点进会", "会议链接已发，{time}开始",
              "这周的值班是{name}，手机保持畅通", "打印机没纸了，行政帮忙补一下", "新版{sys}操作手册已上传知识库",
              "文档链接：{url}，大家看一下", "{doc}放这里了 {url}", "满意度问卷 {url}，请{day}前填完",
              "会议录屏 {url}，没参加的同事补看一下"]
# notices with a bracketed header are work too (SMS ads open with 【brand】, work groups with 【通知】)
NOTICE_HEAD = ["【通知】", "【紧急】", "【提醒】", "【公告】", "【重要】", "【故障通报】", "【已恢复】", "【变更】", "【会议】",
               "【值班】", "[通知]", "【温馨提示】"]
NOTICE_BODY = ["{sys}出现故障，正在排查，预计{time}前恢复", "{sys}今晚{time}升级，期间暂停使用", "{proj}上线完成，请各位验证自己的功能",
               "{day}{time}在{place}开{proj}复盘会，请准时参加", "{doc}提交截止到{date}，逾期不再收",
               "生产环境数据库{time}切换主备，影响约{n}分钟", "{sys}已恢复正常，原因稍后同步", "今晚值班：{name}，有问题直接电话",
               "{dept}{day}搬到{place}办公", "本周五下午大扫除，请清理工位", "网络{time}起维护，约{n}分钟，请提前保存文件",
               "{name}负责的{proj}延期到{date}，相关同事知悉", "{sys}登录异常的同事请先清缓存再试，仍不行找{dept}",
               "接口超时报警，{name}正在处理，影响部分用户下单", "回滚已完成，{proj}恢复到上一版本"]
NOTICE_TAIL = ["", "", "。", "，收到请回复", "，谢谢", "，辛苦大家", "，详情见群文件", "，有问题随时找我"]

# reminders about sensitive data are work: they name the data without carrying it
CAUTION_WHO = ["请大家", "各位", "提醒一下，", "再强调一次，", "【保密提醒】", "信息安全部提醒：", "{dept}提醒：", "@所有人 ",
               "按公司制度，", "新同事注意，", ""]
CAUTION_FORM = ["不要在群里发{o}", "请勿在群内发送{o}", "禁止在工作群转发{o}", "{o}不要截图外发", "不要把{o}发到外部群",
                "别在聊天里直接发{o}", "{o}严禁私自外传", "{o}请走加密邮件，不要通过微信传", "{o}属于保密资料，只能在系统里查看",
                "离职前要交回{o}，不得带走", "收到{o}的同事请及时删除聊天记录", "对外沟通时不要提到{o}"]
CAUTION_OBJ = ["客户的身份证照片", "员工的银行卡信息", "客户资料", "工资条", "合同扫描件", "账号密码", "内部资料", "{doc}",
               "报价底稿", "病人的检查结果", "学生家长的电话", "服务器密码", "投标文件", "个人隐私信息", "业主的联系方式",
               "未公布的财务数据", "人事档案"]
CAUTION_TAIL = ["", "", "，谢谢配合", "，违者按制度处理", "，发错了请及时撤回", "，有需要找{dept}走流程", "，大家互相提醒",
                "，下周会抽查", "。"]

# A workplace warns against illegal things by name: anti-drug, anti-gambling and anti-fraud
# publicity, rules against forged papers and rented bank cards, a dismissal for gambling. Without
# these, a drug's or a scam's name alone reads as illegal (a compliance notice listing 冰毒、大麻
# was called illegal at 1.0).
WARN_KINDS = {
    "drugs": ["冰毒", "大麻", "K粉", "海洛因", "摇头丸", "笑气", "麻古", "可卡因", "依托咪酯", "新型毒品"],
    "gambling": ["赌球", "六合彩", "网络赌博", "百家乐", "私彩", "网赌", "博彩", "赌博APP", "时时彩", "境外赌场", "线上棋牌赌博"],
    "fraud": ["刷单返利", "冒充客服退款", "杀猪盘", "安全账户", "裸聊敲诈", "网贷诈骗", "虚拟币投资", "冒充领导转账", "征信修复",
              "注销校园贷", "高薪兼职", "机票改签诈骗"],
    "papers": ["虚开发票", "做假账", "假证", "假学历", "伪造公章", "假流水", "代考", "伪造检测报告", "阴阳合同"],
    "cards": ["出租银行卡", "出售银行卡", "出借手机卡", "买卖个人信息", "帮人跑分", "出借对公账户", "洗钱", "倒卖实名账号"],
    "goods": ["管制刀具", "走私烟", "仿真枪", "烟花爆竹", "非法集资", "高利贷"],
}
WARN_WHO = ["【禁毒宣传】", "【反诈提醒】", "【合规提醒】", "【安全教育】", "{dept}提醒：", "法务部提示：", "保卫科通知：", "各位同事，",
            "再强调一遍，", "@所有人 ", "审计部通报：", "按公司员工手册，", "{trole}提醒大家，", "新员工入职培训第{n}条：", ""]
WARN_FORM = ["严禁涉及{o}等违法活动", "{o}都属于违法犯罪，大家一定远离", "禁止员工涉及{o}", "近期{o}案件高发，大家提高警惕",
             "遇到{o}相关的信息，直接拒绝并向{dept}报告", "{o}一律不得出现在公司业务中", "如发现同事涉及{o}，请及时举报",
             "{name}因涉及{o}已被公司辞退，请大家引以为戒", "本周五{time}在{place}开展防范{o}专题培训，请准时参加",
             "派出所民警{day}来讲{o}的常见套路，各部门派人参加", "客户如果提到{o}相关的要求，一律拒绝并上报主管",
             "审计发现个别{tplace}存在{o}的问题，请{date}前完成整改", "培训课件里整理了{o}的典型案例，大家认真学习",
             "不要帮陌生人做任何涉及{o}的事，被查到要承担法律责任", "{o}的举报电话已贴在{tplace}门口", "这个算不算{o}？我先拒绝了，{dept}帮忙看一下"]
WARN_TAIL = ["", "", "。", "，违者按制度处理", "，一经查实立即解除劳动合同", "，请大家互相提醒", "，培训课件见群文件",
             "，学习后请在系统里签字确认", "，收到请回复", "，有线索请私信{dept}"]


def _warning(r: random.Random) -> str:
    kind = r.choice(sorted(WARN_KINDS))
    things = r.sample(WARN_KINDS[kind], r.randint(1, 3))
    if r.random() < 0.25:  # a notice that covers more than one kind
        things.append(r.choice(WARN_KINDS[r.choice(sorted(WARN_KINDS))]))
    listed = "、".join(dict.fromkeys(things))
    return _fill(r, r.choice(WARN_WHO) + r.choice(WARN_FORM).replace("{o}", listed) + r.choice(WARN_TAIL))


CHAT_PARTS = ["笑死我了", "绝了", "太可爱了吧", "好羡慕", "求推荐", "饿死了", "困死了", "冻死了", "热死了", "心态崩了", "开心",
              "无语", "救命", "哈哈哈", "嘻嘻", "哎", "好累啊", "好想放假", "冲鸭", "绝绝子"]
CHAT_TOPICS = ["我家孩子今天会走路了", "我家狗子又拆家了", "楼下的猫生小猫了", "周末去爬山了", "昨晚追剧到三点", "今天{food}太好吃了",
               "刚买的{prod}到了", "地铁上看到一个人穿睡衣", "昨天的比赛看了吗", "基金又亏了", "今天股票涨停了", "我减肥又失败了",
               "外面下大雨了", "刚看了个电影", "这周末去露营", "晚上约了火锅", "我养的花开了", "老家寄来了腊肉",
               "看到一只狗追着自己尾巴转圈", "你们五一去哪玩", "中午吃什么好呢", "今天穿少了", "奶茶第二杯半价",
               "那个综艺太好笑了", "我中了五块钱彩票", "健身第{n}天", "昨晚做了个奇怪的梦"]

AD_OPEN = ["有需要的吗", "顺便打个广告", "同事们支持一下", "我副业在做", "我表哥在卖", "谁要", "清仓了", "报我名字",
           "亲们", "各位朋友", "打扰一下", "帮朋友推广一下", "给大家推荐", "有需要的看过来", "本人", "我姐开的店", "宝妈们",
           "老板们", "兄弟们", "【福利】", "【特惠】", "【广告】", "", "", ""]
AD_ITEM = ["自家果园的{food}", "手工{prod}", "进口{prod}", "全新{prod}", "二手{prod}", "健身年卡", "游泳卡", "少儿英语课",
           "编程体验课", "月嫂育儿嫂服务", "家政保洁", "搬家服务", "公司注册代理记账", "商标注册", "POS机", "信用卡积分兑换",
           "新楼盘", "学区房", "自助餐券", "电影票", "演唱会门票", "高端护肤品", "保健酒", "茶叶礼盒", "外贸独立站代运营", "短视频代运营",
           "{prod}加盟", "4S店的车", "九成新办公椅", "体检卡", "理财课程", "驾校名额", "海鲜礼盒", "闲置跑步机",
           "健身房推荐码", "社区团购水果", "车险", "一对一补课", "瓷砖", "扫地机器人内购", "logo设计", "全新国行手机",
           "袜子", "少儿篮球训练营", "代驾服务", "云南七日游", "进口猫粮", "美甲", "直播间秒杀锅具"]
AD_OFFER = ["原价{amount}现价{n}9", "只要{n}9元", "{n}折", "买一送一", "买二送一", "包邮", "限时特价", "仅限本周", "名额有限",
            "前{n}名送礼品", "比官网便宜{n}0", "厂家直供", "假一赔十", "先试后买", "免费体验", "免费上门", "月入过万", "躺着赚钱",
            "首单立减{n}元", "满{n}0减{n}"]
AD_CONTACT = ["加我微信{wx}", "加V：{wx}", "vx {wx}", "薇信 {wx}", "私聊", "有意者私聊", "电话{phone}", "qq {qq}", "扫码进群",
              "链接 {url}", "详情 {url}", "欢迎咨询", "需要的找我", "先到先得", "欢迎下单"]

RUM_SRC = ["刚听行政说", "隔壁组传出来的", "保安大叔说", "客户那边说", "总部的同学说", "好像听谁说", "外面都在说",
           "消息已经传开了", "有同事私下说", "朋友在政府上班，说", "听说", "据说", "有人说", "网上说", "网传", "内部消息", "小道消息", "据可靠消息", "听{dept}的朋友说", "听HR说",
           "刚看到消息说", "有人在传", "朋友圈都在传", "群里都在说", "重磅", "紧急扩散", "转发一下"]
RUM_CLAIM = ["公司要裁员了", "下个月开始降薪{pct}%", "年终奖全部取消", "公司被收购了", "老板已经跑路了", "公司账户被冻结了",
             "外包要全部清退", "我们部门要整体裁掉", "社保要断缴", "工资要延迟发放", "新领导要换掉一批老员工", "公司要搬到郊区",
             "明天全市停水停电", "{food}吃了会致癌", "某超市的鸡蛋是假的", "打了疫苗会不孕", "手机充电时打电话会爆炸",
             "隔夜菜吃了会中毒", "{date}要地震", "地铁要停运一周", "体检不合格的会被劝退", "微信转账要收手续费", "竞争对手要倒闭了",
             "食堂补贴要取消", "绩效末位的全部要走人", "提成要砍一半", "下周要封城", "财务总监被带走调查了", "产品要被下架",
             "公积金基数要下调", "要突击查考勤，迟到直接开除", "某品牌奶粉有毒", "分公司要全部关掉", "项目组年底解散",
             "明年不招人了", "聊天记录都被监控", "合作方已经破产", "周六要上班还不给加班费", "税务局要来查账",
             "部门预算被全部冻结", "公司要上市，内部股要涨十倍", "楼里闹鬼", "吃大蒜能防新冠", "老板欠了一屁股债"]
RUM_TAIL = ["", "，真的假的", "，大家早做打算", "，赶紧转发", "，千万别不信", "，快告诉家人", "，别说是我说的", "，真假不知道先转",
            "，已经证实了", "，官方还没公布", "，大家快去问问", "！！！"]

ABU_TARGET = ["你", "@{name} 你", "{name}", "{dept}那帮人", "这个领导", "这个甲方", "测试组", "新来的", "老东西", "某些人"]
ABU_INSULT = [("attack", "是猪吗"), ("attack", "脑子进水了吧"), ("attack", "就是个废物"), ("attack", "全是饭桶"),
              ("attack", "蠢得要死"), ("attack", "算老几"), ("attack", "真恶心"), ("attack", "不要脸"), ("attack", "长得丑就别出来吓人"),
              ("attack", "是马屁精"), ("attack", "智商欠费"), ("attack", "没脑子"), ("attack", "就是个人渣"), ("attack", "闭嘴吧，没人想听"),
              ("attack", "滚远点，别碍眼"), ("attack", "倚老卖老"), ("attack", "有病吧"), ("attack", "除了甩锅还会什么"),
              ("vulgar", "傻逼"), ("vulgar", "他妈的有病"), ("vulgar", "放屁"), ("vulgar", "狗屎一样"), ("vulgar", "卧槽真是个傻逼"),
              ("violent", "等着，下班我弄死你"), ("violent", "信不信我捅死你"), ("violent", "再这样我打断你的腿"),
              ("violent", "我真想一刀砍了"), ("violent", "门口等着，揍死你"),
              ("attack", "真是对牛弹琴"), ("attack", "这水平也好意思当组长"), ("attack", "脑子里装的都是浆糊"),
              ("attack", "活着就是浪费空气"), ("attack", "丑八怪"), ("attack", "二百五"), ("attack", "神经病"),
              ("attack", "又当又立"), ("attack", "废柴一个"), ("attack", "就会拍马屁"), ("attack", "是聋了还是瞎了"),
              ("attack", "也配拿这工资"), ("attack", "给脸不要脸"), ("attack", "看着就想吐"), ("attack", "满嘴谎话的小人"),
              ("attack", "土得掉渣的乡巴佬"), ("attack", "拖后腿的累赘"), ("attack", "贱人"), ("attack", "狗东西"),
              ("vulgar", "sb"), ("vulgar", "nmsl"), ("vulgar", "tmd"), ("vulgar", "草泥马"), ("vulgar", "滚犊子"),
              ("vulgar", "王八蛋"), ("vulgar", "傻X"), ("vulgar", "狗屁不通"),
              ("violent", "小心我找人弄你"), ("violent", "真想抽你两巴掌"), ("violent", "出来单挑，打爆你的头"),
              ("violent", "我知道你家住哪"), ("violent", "去死吧"),
              # the quieter kinds seen missed in work groups: contempt for someone's ability, threats
              # without a violent word, slurs on region, sex or age, and harassment
              ("attack", "教都教不会"), ("attack", "记性是喂狗了吧"), ("attack", "文凭是买的吧"), ("attack", "是用脚干活的吧"),
              ("attack", "除了添乱还会啥"), ("attack", "也就这点出息"), ("attack", "早点回家种地吧"), ("attack", "真是烂泥扶不上墙"),
              ("attack", "给我等着，这事没完"), ("attack", "让你吃不了兜着走"), ("attack", "让你在这行混不下去"),
              ("attack", "外地佬懂个屁"), ("attack", "女的就是干不了这活"), ("attack", "老家伙不中用了"),
              ("attack", "身材不错，晚上陪哥喝一杯"), ("attack", "穿这么少是想勾引谁")]
ABU_FRAME = ["{t}{i}", "{t}{i}", "{i}", "呵呵，{t}{i}", "说真的，{t}{i}", "{t}{i}，还有脸说别人", "{i}！{t}别回我了",
             "又是{t}，{i}", "我看{t}{i}", "就{t}这样？{i}", "{doc}又弄错了，{t}{i}", "{t}是不是傻，{doc}又交晚了，{i}"]

CONF_INTRO = ["这是", "发一下", "附上", "给你看下", "转一下", "整理好了", "刚导出的", "先发群里", ""]
CONF_BODY = ["本月全员工资表", "{dept}的薪资明细", "年终奖分配表：{dept}人均{amount}", "客户名单，含手机号和成交金额",
             "投标底价{amount}元", "并购方案（估值{amount}）", "下季度裁员名单草稿", "{name}的绩效和工资条", "供应商成本价和折扣",
             "董事会决议草案", "未发布的财报数据，营收{amount}", "{name}的体检报告", "员工身份证复印件", "{proj}的源代码和部署密钥"]
CONF_TAIL = ["，看完删掉", "，不要外传", "，仅限内部", "，千万别透露", "，别转出去", "，注意保密", "", "，(机密)"]

ILL_GAMBLE = ["{plat}线上开业，首存送100%", "一起玩菠菜吗，内部渠道稳赚", "足球竞猜赔率全网最高", "百家乐必胜技巧，跟着我下注",
              "网上棋牌上分下分找我", "时时彩计划群，准确率{pct}%", "真人荷官在线发牌，注册送{n}元", "线上赌场招代理，返佣{pct}%",
              "六合彩内部资料，保证中", "炸金花三缺一，一把{n}0", "赌球平台提款秒到", "北京赛车pk10稳赚计划"]
ILL_FRAUD = ["兼职刷单，一单一结，垫付后返款", "我是{name}总，这是新微信，先帮我给客户转{amount}", "把手机验证码发我，帮你办退款",
             "您的账户涉嫌洗钱，需转入安全账户核查", "无需征信，黑户也能贷，先交{n}00手续费", "投资虚拟币，导师带你一周翻倍",
             "快递丢失理赔，点链接填银行卡和密码", "老板交代，把货款先转到这个私人账户", "社保账户异常，余额需转入指定账户",
             "征信修复，洗白逾期记录", "信用卡套现，费率低", "杀猪盘导师带你稳赚", "注册就送{n}00，提现秒到，只需先充值"]
ILL_OTHER = ["代开各类发票，税点低", "收银行卡，一套{n}00，当天结", "办理各类证件，学历证资格证保真", "出售公民信息，精准到手机号住址",
             "谁要冰毒，价格好说", "代考驾照科目一，包过", "出售仿真枪，快递到家", "出租银行卡四件套", "黑客接单，改成绩查开房记录",
             "谁有门路搞点发票报销", "帮我在系统里把这笔账做平，分你一成", "把过期原料重新贴标签卖掉", "检测报告改一下数据就能过",
             "回扣直接打到我私人卡上，别走公司账", "有人要考试答案吗", "不用实名的手机卡批量出", "能开假的收入证明和流水",
             "收购闲置营业执照和对公账户", "走私烟半价出", "破解考勤软件，改打卡记录", "借你的银行卡走几笔账，给你辛苦费",
             "找人替考六级，钱到位就行", "亲戚在搞集资，月息三分", "做跑分的用自己的卡收款日赚几百"]
ILL_CONTACT = ["", "", "，加微 {wx}", "，私聊", "，群号 {qq}", "，链接 {url}", "，电话{phone}", "，威信 {wx}", "，24小时在线"]

# Other trades than the office and software work the templates above mostly speak of. Their words
# turn up in every class below (a warehouse rumour, a ward's chit-chat, an insult to a driver), so
# that a trade's vocabulary does not by itself mean work.
TRADE_PLACES = ["仓库", "病房", "护士站", "车间", "门店", "收银台", "候车室", "配电房", "泵房", "后厨", "前台", "工地", "矿井", "展厅",
                "教室", "网点", "柜台", "快递站", "停车场", "药房", "码头", "生产线", "片场", "教务处", "客服中心", "养老院",
                "宠物医院", "加油站", "健身房", "影院", "售票厅", "装卸区", "洗车房", "烘焙间", "机修厂", "分拣中心", "4S店展厅"]
TRADE_ROLES = ["店长", "护士长", "班长", "车间主任", "老师傅", "司机", "保安", "前台", "收银员", "教练", "导游", "会计", "质检员",
               "调度", "库管", "班主任", "客服", "厨师长", "技术员", "站长", "销售顾问", "理货员", "叉车工", "护工", "快递员",
               "放映员", "售后", "安全员", "值班长", "主管"]
TRADE_THINGS = ["库存表", "排班表", "出库单", "交接班记录", "巡检记录", "病历", "订单", "会员卡", "票据", "台账", "发货单",
                "检测报告", "工单", "保养记录", "试卷", "考勤表", "车辆", "设备", "原料", "样品", "发票", "货", "成绩"]
TRADE_WORK = ["{trole}，{tplace}的{tthing}今天下班前更新一下", "{tplace}{time}盘点，{trole}带两个人过去", "@{name} {tthing}有问题，先别出，等{trole}确认",
              "明天{tplace}检查，大家把{tthing}整理好", "{tplace}今天缺一个人，谁能顶一下{time}的班", "{trole}请假了，{tthing}先交给{name}",
              "{tthing}核对完了，有{n}处对不上，已经报给{trole}", "{tplace}的空调坏了，已经报修，{day}来人", "新来的{trole}{day}到岗，{name}带一下",
              "{tplace}门口别堆东西，消防检查要扣分"]
TRADE_CHAT = ["{tplace}冷得要命，谁有暖宝宝", "今天{trole}请大家喝奶茶{e}", "下班路过{tplace}，闻到烤肠的味道走不动了{e}", "刚才有个顾客问了个特别逗的问题，笑死我了",
              "{trole}今天过生日，大家下班一起唱个歌", "站了一天腿都不是自己的了{e}", "今天{tplace}的阳光真好，拍了几张照", "谁中午去吃{food}，带我一个",
              "好想放假，哪怕一天也行{e}", "{trole}家的狗又生了，谁要小狗", "夜班结束，看到日出了，挺美的", "食堂今天的{food}绝了"]
TRADE_RUM_SRC = ["{trole}说", "听{tplace}的人说", "门卫说", "内部群传", "有人亲眼看见", "{trole}私下跟我说", "朋友圈都在传", "听老员工讲"]
TRADE_RUM_CLAIM = ["{tplace}下个月要关停", "{trole}岗位明年全部外包出去", "{tplace}年底要整体搬走，愿意去的才留", "{trole}被带走调查了",
                   "{tplace}进的货都是假的", "{tplace}前天死了人，公司花钱封口了", "新来的{trole}是老板亲戚，要清理老人",
                   "夜班补贴要取消了", "这里的水有问题，喝多了会得病", "{tplace}要被收购，所有人重新签合同", "下个月开始要倒班不给加班费",
                   "{trole}要被开除了，名单已经定了"]
TRADE_ILLEGAL = ["把{tthing}做个假，应付检查就行，好处少不了你", "名单上多挂几个不上班的人，每月的钱大家分", "那批废油别找正规公司处理了，找个没人的沟倒了",
                 "认识里面管系统的人，{tthing}想改多少改多少，一次{n}00", "私下把{tthing}卖给外面的人，价钱好说", "{tplace}的货少报一点，差价咱们分",
                 "账上的收入藏一半，报税用另一本，稳得很", "谁要客户的内部资料，一条一块钱", "回扣直接给现金，别留记录",
                 "{tplace}的电偷偷接给隔壁厂用，每月给咱们好处费", "过期的药换个包装接着卖", "冒充{trole}让家属先交押金到我卡上"]
TRADE_CONF = ["客户{name}，手机{phone}，住{addr}，{tthing}有问题的就是他", "把{tplace}客户的联系方式整理成表了，姓名手机号一个不落：{url}",
              "【内部】{tplace}夜间只有{n}个人值守，{time}换岗，东侧没有摄像头", "{name}的病历：诊断结果已出，家属电话{phone}，不要外传",
              "{trole}{name}身份证{id}，帮忙办一下入职", "{tplace}保险柜密码{pwd}，今晚值班的用", "{name}的签证材料：护照号E{n}{n}{n}，出生日期{date}"]
TRADE_ABUSE = ["{t}又把{tthing}搞砸了，真是咱们的活宝，鼓掌👏", "{t}好厉害哦，上班时间一半在刷手机，佩服佩服🙂", "这么能干怎么还只是个{trole}",
               "{t}再多管闲事，小心哪天{tplace}里出点事故", "你家住哪我清楚得很，自己掂量着办", "{t}就靠这张脸混日子，业务一塌糊涂",
               "那个胖得跟球一样的{trole}别让他站前台，影响形象", "现在的年轻人就是废，一点苦都吃不了", "{t}今天穿得这么骚，晚上陪我吃个饭呗😏", "{t}能当上{trole}靠的是什么，大家心知肚明",
               "一个{trole}也敢跟我顶嘴", "{t}这么笨，当{trole}都嫌多余", "{t}那脑子里装的都是浆糊吧，{tthing}都能搞错"]


TRADE_SHARE = 0.2


# short logistics lines of a work group (a time and an activity, where someone is, a status word):
# public chit-chat is full of the same shapes between friends, so without these "明早九点例会" reads as chat
SHORT_WHEN = ["明天", "明早", "今晚", "下午", "上午", "周三", "下周一", "{time}", "九点半", "十点", "两点", "三点半", "晚上八点",
              "明天上午十点", "今天下午四点", "中午", "月底", "{day}"]
SHORT_WHAT = ["开会", "例会", "站会", "周会", "评审", "培训", "加班", "发版", "上线", "出差", "值班", "交接班", "盘点", "巡检",
              "查房", "对账", "验收", "面试", "开工", "装车", "送货", "复盘", "彩排", "打卡"]
SHORT_TAIL = ["", "", "", "，别迟到", "，准时到", "，在{place}", "，改到{time}", "，推迟半小时", "，提前十分钟到", "，线上", "，地点不变",
              "取消了", "，带上电脑", "，{name}主持"]
SHORT_STATUS = ["马上到", "在路上了，十分钟到", "到{place}了", "我到{tplace}了", "已提交", "已发版", "已上线", "已处理",
                "刚交接完", "{name}今天请假", "我今天调休", "我明天出差", "下午去客户那", "在开会，晚点回", "我在{tplace}，马上过去",
                "货已经发了", "表已经交了", "方案改好了", "单子录完了", "{trole}已经到位", "今天我值夜班", "会议推迟到{time}"]


# and idle chat that mentions the working day (下班, 加班, 值班 …) is still idle chat
IDLE_AT_WORK = ["下班去吃{food}吗{e}", "下班一起去吃{food}，有人吗", "值班好困，谁带了咖啡", "加班加到饿死了，谁有零食{e}",
                "今天上班摸鱼被我家猫看见了😂", "周末终于不用加班了，去爬山{e}", "出差回来给大家带了点零食，在桌上自己拿",
                "开会开得我都睡着了😂", "培训的午饭还挺好吃", "值班室的空调太冷了，冻死了", "打完卡去喝奶茶，有人一起吗",
                "午休时间谁一起打游戏", "上班路上堵了一小时，心态崩了", "今晚不加班，追剧去了{e}", "{trole}下班后去钓鱼了，钓了条大鱼",
                "刚出差回来，时差还没倒过来", "开完会去吃{food}，排队的人好多", "夜班吃什么好，{food}还是{food}",
                "明天调休，睡到自然醒{e}", "下班看到晚霞了，太美了{e}", "{tplace}今天来了只流浪猫，好可爱", "加班的时候听到隔壁在唱歌😂"]


def _short_logistics(r: random.Random) -> str:
    if r.random() < 0.6:
        return _fill(r, r.choice(SHORT_WHEN) + r.choice(["", "", "的"]) + r.choice(SHORT_WHAT) + r.choice(SHORT_TAIL))
    return _fill(r, r.choice(SHORT_STATUS))


def _trade(r: random.Random, label: str) -> tuple[str, str | None]:
    f = lambda t: _fill(r, t)  # noqa: E731
    if label == "work":
        return f(r.choice(TRADE_WORK)), None
    if label == "chitchat":
        return f(r.choice(TRADE_CHAT)), None
    if label == "rumour":
        return f(r.choice(TRADE_RUM_SRC) + r.choice(["，", "：", ""]) + r.choice(TRADE_RUM_CLAIM) + r.choice(RUM_TAIL)), None
    if label == "abuse":
        target = r.choice(["你", "@{name} 你", "{trole}", "那个{trole}", "新来的{trole}", "某些人"])
        return f(r.choice(TRADE_ABUSE).replace("{t}", target)), "attack"
    if label == "confidential":
        return f(r.choice(TRADE_CONF)), None
    return f(r.choice(TRADE_ILLEGAL) + r.choice(["", "", "，私聊", "，有意的找我", "，别声张"])), "other"


def _compose(r: random.Random, label: str) -> tuple[str, str | None]:
    f = lambda t: _fill(r, t)  # noqa: E731
    if label != "ad" and r.random() < TRADE_SHARE:
        return _trade(r, label)
    if label == "work":
        k = r.random()
        if k < 0.35:
            return f(r.choice(ACK_HEAD) + r.choice(ACK_TAIL)), None
        if k < 0.70:
            return f(r.choice(["", "@{name} ", "请问", "{name}，"]) + r.choice(WORK_SUBJ) + r.choice(["", "，", "的事"]) + r.choice(WORK_PRED)), None
        if k < 0.78:
            return f(r.choice(WORK_EXTRA)), None
        if k < 0.84:
            return _short_logistics(r), None
        if k < 0.90:
            return f(r.choice(NOTICE_HEAD) + r.choice(NOTICE_BODY) + r.choice(NOTICE_TAIL)), None
        if k < 0.95:
            return _warning(r), None
        caution = r.choice(CAUTION_FORM).replace("{o}", r.choice(CAUTION_OBJ))
        return f(r.choice(CAUTION_WHO) + caution + r.choice(CAUTION_TAIL)), None
    if label == "chitchat":
        k = r.random()
        if k < 0.12:
            return f(r.choice(IDLE_AT_WORK)), None
        if k < 0.5:
            return f(r.choice(CHAT_TOPICS) + r.choice(["", "，", "！"]) + r.choice(CHAT_PARTS + [""]) + r.choice(EMOJI)), None
        if k < 0.75:
            return f(r.choice(CHAT_PARTS) + r.choice(EMOJI) + r.choice(["", r.choice(CHAT_PARTS)])), None
        return r.choice(EMOJI[:12]) * r.randint(2, 6) if r.random() < 0.5 else _flood(r), None
    if label == "ad":
        parts = [r.choice(AD_OPEN), r.choice(AD_ITEM), r.choice(AD_OFFER)]
        if r.random() < 0.5:
            parts.append(r.choice(AD_OFFER))
        parts.append(r.choice(AD_CONTACT))
        return _leet(r, f("，".join(p for p in parts if p))), None
    if label == "rumour":
        return f(r.choice(RUM_SRC) + r.choice(["，", "：", "", "！"]) + r.choice(RUM_CLAIM) + r.choice(RUM_TAIL)), None
    if label == "abuse":
        sub, insult = r.choice(ABU_INSULT)
        if r.random() < 0.4:
            frame = r.choice(ABU_FRAME)
            return f(frame.replace("{t}", r.choice(ABU_TARGET)).replace("{i}", insult) + r.choice(["", "！", "。", "{e}"])), sub
        return f(r.choice(ABU_TARGET) + r.choice(["", "，", " "]) + insult + r.choice(["", "！", "？", "。", "{e}"])), sub
    if label == "confidential":
        k = r.random()
        if k < 0.5:
            return f(r.choice(CONF_INTRO) + r.choice(CONF_BODY) + r.choice(CONF_TAIL)), None
        return f(r.choice(CONFIDENTIAL)), None
    if label == "illegal":
        k = r.random()
        pool, sub = ((ILL_GAMBLE, "gambling") if k < 0.4 else (ILL_FRAUD, "fraud") if k < 0.8 else (ILL_OTHER, "other"))
        return _leet(r, f(r.choice(pool) + r.choice(ILL_CONTACT))), sub
    raise ValueError(label)


def generate_mixed(seed: int = 13, n_per_class: dict[str, int] | None = None, compositional: float = 0.6) -> list[dict]:
    """Template sentences (generate) plus compositional messages: `compositional` of each class."""
    n = {"work": 9000, "chitchat": 2500, "ad": 2000, "rumour": 1500, "abuse": 1500, "confidential": 2500, "illegal": 2500}
    n.update(n_per_class or {})
    base = generate(seed, {k: int(v * (1 - compositional)) for k, v in n.items()})
    r = random.Random(seed + 1)
    for label, count in n.items():
        for _ in range(int(count * compositional)):
            text, sub = _compose(r, label)
            base.append({"text": text, "label": label, "sub_label": sub, "source": "project_synthetic"})
    r.shuffle(base)
    return base

