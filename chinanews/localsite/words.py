"""Word lists and a small grammar that synthesise Chinese news text for the local site.

Everything is drawn from a ``random.Random`` the caller passes in, so a seed fixes the text.
No text is downloaded; the vocabulary below is enough for headlines, paragraphs of realistic
length, captions, keywords and the chrome of a news portal.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

PLACES = (
    "北京",
    "上海",
    "广东",
    "深圳",
    "杭州",
    "成都",
    "武汉",
    "重庆",
    "西安",
    "南京",
    "天津",
    "湖南",
    "河南",
    "山东",
    "江苏",
    "浙江",
    "福建",
    "云南",
    "贵州",
    "广西",
    "海南",
    "安徽",
    "江西",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "甘肃",
    "青海",
    "宁夏",
    "新疆",
    "内蒙古",
    "苏州",
    "厦门",
    "青岛",
    "大连",
    "宁波",
    "郑州",
    "长沙",
    "合肥",
    "昆明",
    "哈尔滨",
    "济南",
)
COUNTRIES = (
    "美国",
    "俄罗斯",
    "乌克兰",
    "日本",
    "韩国",
    "英国",
    "法国",
    "德国",
    "印度",
    "巴西",
    "欧盟",
    "以色列",
    "伊朗",
    "土耳其",
    "澳大利亚",
    "加拿大",
    "意大利",
    "西班牙",
    "巴基斯坦",
    "越南",
    "印尼",
    "沙特",
    "埃及",
    "南非",
    "墨西哥",
    "阿根廷",
    "菲律宾",
    "新加坡",
    "泰国",
    "朝鲜",
)
ORGS = (
    "国务院",
    "外交部",
    "商务部",
    "国家统计局",
    "中国人民银行",
    "证监会",
    "工信部",
    "教育部",
    "国家卫健委",
    "市场监管总局",
    "交通运输部",
    "生态环境部",
    "国家发改委",
    "应急管理部",
    "公安部",
    "民政部",
    "文旅部",
    "国家医保局",
    "海关总署",
    "国家能源局",
)
FOREIGN_ORGS = (
    "联合国",
    "世界卫生组织",
    "北约",
    "七国集团",
    "二十国集团",
    "国际货币基金组织",
    "世界银行",
    "欧洲央行",
    "美联储",
    "白宫",
    "五角大楼",
    "克里姆林宫",
    "欧盟委员会",
    "东盟",
)
PEOPLE = (
    "发言人",
    "专家",
    "业内人士",
    "相关负责人",
    "当地居民",
    "目击者",
    "网友",
    "分析人士",
    "市民",
    "游客",
    "志愿者",
    "民警",
    "医生",
    "教师",
    "企业家",
    "研究员",
    "外交官",
    "工作人员",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉玲晶飞文斌宇浩凯健俊帆帅旭宁龙林欣婷雪琳晨阳佳丹波峰"

TOPICS = {
    "domestic": (
        "乡村振兴",
        "高质量发展",
        "营商环境",
        "就业形势",
        "医疗改革",
        "教育公平",
        "基础设施建设",
        "城市更新",
        "养老服务",
        "社会保障",
        "粮食安全",
        "生态保护",
        "防汛抗旱",
        "交通网络",
        "数字政府",
        "科技创新",
        "区域协调发展",
        "民生实事",
        "住房保障",
        "文化遗产保护",
    ),
    "international": (
        "和平谈判",
        "贸易摩擦",
        "关税政策",
        "地区局势",
        "双边关系",
        "停火协议",
        "能源危机",
        "难民问题",
        "选举结果",
        "军援计划",
        "外交斡旋",
        "经济制裁",
        "气候谈判",
        "供应链安全",
        "移民政策",
        "领土争端",
        "多边合作",
        "峰会成果",
        "通胀压力",
        "债务危机",
    ),
    "social": (
        "交通事故",
        "寻亲",
        "见义勇为",
        "电信诈骗",
        "高温天气",
        "动物园",
        "外卖骑手",
        "校园安全",
        "食品安全",
        "消费纠纷",
        "物业纠纷",
        "网络谣言",
        "失物招领",
        "暴雨预警",
        "景区管理",
        "共享单车",
        "婚恋骗局",
        "快递包裹",
        "邻里纠纷",
        "直播带货",
    ),
    "military": (
        "航母编队",
        "战斗机",
        "联合演习",
        "无人机",
        "导弹试射",
        "驱逐舰",
        "潜艇",
        "防空系统",
        "远程轰炸机",
        "军事演训",
        "国防预算",
        "军售计划",
        "海上巡逻",
        "隐身战机",
        "电子战",
        "高超音速武器",
        "两栖攻击舰",
        "预警机",
        "卫星导航",
        "装备列装",
    ),
    "finance": (
        "A股",
        "人民币汇率",
        "新能源汽车",
        "消费市场",
        "房地产",
        "上市公司",
        "公募基金",
        "债券市场",
        "央行降准",
        "外贸数据",
        "物价指数",
        "银行理财",
        "黄金价格",
        "白酒行业",
        "医药集采",
        "保险业",
        "光伏产业",
        "锂电池",
        "跨境电商",
        "制造业投资",
    ),
    "tech": (
        "人工智能",
        "大模型",
        "芯片",
        "5G网络",
        "智能手机",
        "卫星互联网",
        "自动驾驶",
        "量子计算",
        "云计算",
        "机器人",
        "数据中心",
        "操作系统",
        "可穿戴设备",
        "折叠屏",
        "新能源电池",
        "半导体",
        "元宇宙",
        "网络安全",
        "算力网络",
        "智能家居",
    ),
    "ent": (
        "电视剧",
        "电影票房",
        "综艺节目",
        "演唱会",
        "音乐节",
        "动画电影",
        "网络剧",
        "颁奖典礼",
        "新片定档",
        "话剧",
        "纪录片",
        "选秀节目",
        "电影节",
        "短剧",
        "民乐演出",
    ),
}
VERBS = (
    "部署",
    "推进",
    "发布",
    "启动",
    "公布",
    "加快",
    "完善",
    "强化",
    "出台",
    "召开",
    "回应",
    "宣布",
    "关注",
    "聚焦",
    "谈及",
    "披露",
    "通报",
    "调查",
    "实施",
    "优化",
)
COMMENTS = (
    "多方相继发声",
    "进展与挑战并存",
    "引发广泛关注",
    "释放积极信号",
    "专家解读背后原因",
    "网友热议",
    "细节曝光",
    "官方回应来了",
    "后续进展受关注",
    "业内人士这样看",
    "多地跟进",
    "现场画面曝光",
    "数据亮眼",
    "前景几何",
    "影响几何",
    "背后有何考量",
    "仍待观察",
    "各方反应不一",
    "记者实地探访",
    "最新进展来了",
)
NOUNS = (
    "新计划",
    "新举措",
    "新政策",
    "方案",
    "数据",
    "报告",
    "通知",
    "名单",
    "细则",
    "标准",
    "试点",
    "项目",
    "指南",
    "意见",
    "措施",
)
OUTLETS = (
    ("环球网", "huanqiu.com"),
    ("新华社", "xinhuanet.com"),
    ("中国新闻网", "chinanews.com.cn"),
    ("央视新闻", "news.cctv.com"),
    ("人民网", "people.com.cn"),
    ("澎湃新闻", "thepaper.cn"),
    ("光明网", "gmw.cn"),
    ("中国日报网", "chinadaily.com.cn"),
    ("北京日报", "bjd.com.cn"),
    ("经济日报", "ce.cn"),
    ("科技日报", "stdaily.com"),
    ("新京报", "bjnews.com.cn"),
    ("参考消息", "cankaoxiaoxi.com"),
    ("中华网", "china.com"),
    ("每日经济新闻", "nbd.com.cn"),
)
CAPTIONS = (
    "资料图",
    "图为活动现场",
    "图片来源：网络",
    "现场图片",
    "图为相关负责人接受采访",
    "航拍画面",
    "图为工作人员正在作业",
    "视频截图",
    "图为展会现场",
    "示意图",
)

SENTENCES = (
    "{org}{date}表示，{topic}工作取得阶段性成效，下一步将继续{verb}相关{noun}落地见效。",
    "据{outlet}报道，{place}在{topic}方面{verb}了一系列{noun}，受到当地群众普遍欢迎。",
    "{person}{name}告诉记者，“{topic}关系到每一个人的切身利益，我们必须把工作做细做实”。",
    "数据显示，今年前{m}个月，{place}{topic}相关投入同比增长{pct}%，增速较上年同期提高{pct2}个百分点。",
    "{country}方面{date}宣布，将围绕{topic}与有关各方继续保持沟通，但双方在部分问题上仍存在分歧。",
    "分析人士指出，{topic}的推进需要时间，短期内仍面临不少挑战，各方应保持耐心。",
    "{foreign_org}发布的报告认为，{topic}对全球经济的影响正在显现，未来走势仍有较大不确定性。",
    "记者在现场看到，{place}多个{noun}已经全面铺开，工作人员正在有序开展{topic}相关工作。",
    "截至目前，已有{n}家单位参与{topic}{noun}，累计惠及群众超过{n2}万人次。",
    "{person}表示，希望有关部门进一步{verb}{topic}方面的{noun}，让更多人从中受益。",
    "业内人士认为，随着{topic}不断深入，相关产业有望迎来新的发展机遇。",
    "{place}有关部门提醒，广大市民在关注{topic}的同时，要注意甄别网络上的不实信息。",
    "此前，{org}曾多次就{topic}作出部署，要求各地压实责任、狠抓落实。",
    "{country}总统{date}在社交媒体上发文称，{topic}“可能取得重大进展”，但未透露更多细节。",
    "对此，{country}外交部回应称，将密切关注{topic}的后续发展，并保留采取进一步措施的权利。",
    "从市场反应看，{topic}消息公布后，相关板块{date}整体走强，成交额明显放大。",
    "据了解，该{noun}自{m}月份启动以来，已在{place}等{n}个省份开展试点。",
    "{person}{name}说，过去一年里，身边的变化看得见、摸得着，大家对未来充满信心。",
    "专家建议，应当加快完善{topic}领域的法律法规，进一步明确各方权利义务。",
    "值得注意的是，{topic}的影响并不局限于单一领域，还将带动上下游产业链协同发展。",
    "当天，{place}还举行了{topic}主题活动，吸引了{n}余名{person}参加。",
    "根据{noun}，到{year}年，{place}{topic}相关指标将达到全国领先水平。",
)
DATES = ("日前", "近日", "24日", "23日", "当天", "周一", "本周", "昨天", "今年以来", "上周末")

CHANNEL_NAMES = {
    "domestic": "国内新闻",
    "international": "国际新闻",
    "social": "社会新闻",
    "military": "军事新闻",
    "finance": "财经",
    "tech": "科技",
    "ent": "娱乐",
}


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _fill(
    template: str,
    rng: random.Random,
    topic: str,
    channel: str,
    cast: Mapping[str, Sequence[str]] | None = None,
) -> str:
    values: dict[str, object] = dict(
        org=rng.choice(ORGS),
        foreign_org=rng.choice(FOREIGN_ORGS),
        place=rng.choice(PLACES),
        country=rng.choice(COUNTRIES),
        person=rng.choice(PEOPLE),
        name=person_name(rng),
        topic=topic if rng.random() < 0.6 else rng.choice(TOPICS[channel]),
        verb=rng.choice(VERBS),
        noun=rng.choice(NOUNS),
        outlet=rng.choice(OUTLETS)[0],
        date=rng.choice(DATES),
        m=rng.randint(2, 10),
        n=rng.randint(3, 90),
        n2=rng.randint(2, 900),
        pct=round(rng.uniform(1, 30), 1),
        pct2=round(rng.uniform(0.2, 5), 1),
        year=rng.choice((2026, 2027, 2030, 2035)),
    )
    if cast:  # drawn after the others, so a call without a cast draws what it always drew
        for slot in sorted(cast):
            values[slot] = rng.choice(cast[slot])
    return template.format(**values)


def sentences(
    rng: random.Random,
    topic: str,
    channel: str,
    cast: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """One body paragraph as a list of two to five sentences (about 80–300 characters).

    ``cast`` pins slots (``org``, ``place``, ``person``, ``name``, ...) to a few values, so
    that several stories can be about the same people and places."""
    return [
        _fill(rng.choice(SENTENCES), rng, topic, channel, cast) for _ in range(rng.randint(2, 5))
    ]


def paragraph(rng: random.Random, topic: str, channel: str) -> str:
    return "".join(sentences(rng, topic, channel))


def headline(rng: random.Random, channel: str) -> tuple[str, str, str]:
    """A headline, its short form (first part, quotes dropped) and its topic."""
    topic = rng.choice(TOPICS[channel])
    who = (
        rng.choice(ORGS + PLACES)
        if channel not in ("international", "military")
        else rng.choice(COUNTRIES + FOREIGN_ORGS)
    )
    shape = rng.randrange(6)
    if shape == 0:
        first = f"{who}{rng.choice(VERBS)}{topic}{rng.choice(NOUNS)}"
    elif shape == 1:
        first = f"{who}{topic}“{rng.choice(NOUNS)}”{rng.choice(('出炉', '落地', '发布', '生效'))}"
    elif shape == 2:
        first = f"{rng.choice(PLACES)}{rng.choice(PEOPLE)}谈{topic}"
    elif shape == 3:
        first = f"{who}{topic}迎来新变化"
    elif shape == 4:
        first = (
            f"{topic}{rng.choice(('持续升温', '按下快进键', '再添新动能', '引发热议', '迎来拐点'))}"
        )
    else:
        first = f"{rng.randint(2, 98)}项{topic}{rng.choice(NOUNS)}{rng.choice(('公布', '出台', '实施'))}"
    comment = rng.choice(COMMENTS)
    title = f"{first} {comment}" if rng.random() < 0.85 else first
    short = first.replace("“", "").replace("”", "")
    return title, short, topic


def keywords(rng: random.Random, topic: str, channel: str) -> list[str]:
    words = [topic, *rng.sample(TOPICS[channel], 2), rng.choice(PLACES + COUNTRIES)]
    out: list[str] = []
    for w in words:
        if w not in out:
            out.append(w)
    return out


def filler_script(rng: random.Random, n: int) -> str:
    """A realistic-looking inline configuration script of about ``n`` characters."""
    parts = []
    size = 0
    i = 0
    while size < n:
        key = f"pos_{i:03d}"
        val = (
            f'{{"id":"{rng.randrange(10**7, 10**8)}","w":{rng.choice((300, 640, 960, 1200))},'
            f'"h":{rng.choice((90, 250, 60))},"type":"{rng.choice(("img", "flash", "text"))}",'
            f'"src":"/static/ad/{rng.randrange(1000, 9999)}.gif","ct":{rng.randrange(0, 99)}}}'
        )
        parts.append(f'"{key}":{val}')
        size += len(parts[-1]) + 1
        i += 1
    return "var CHINA_AD_CONF={" + ",".join(parts) + "};"
