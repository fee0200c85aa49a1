"""The console's words in English and Chinese; templates call t("key")."""

from __future__ import annotations

LANGS = ("en", "zh")

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Staff console", "工作人员控制台"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出登录"),
    "name": ("Name", "用户名"),
    "password": ("Password", "密码"),
    "bad_sign_in": ("Wrong name or password.", "用户名或密码错误。"),
    "locked": (
        "Too many failed sign-ins: this account is locked for 15 minutes.",
        "登录失败次数过多：该账号已锁定15分钟。",
    ),
    "dashboard": ("Dashboard", "概览"),
    "entries": ("Entries", "问答条目"),
    "inbox": ("Inbox", "待处理问题"),
    "try": ("Try it", "试一试"),
    "publish": ("Publish", "发布"),
    "history": ("History", "版本历史"),
    "audit": ("Audit log", "操作日志"),
    "search": ("Search", "搜索"),
    "new_entry": ("New entry", "新建条目"),
    "save_draft": ("Save to draft", "保存到草稿"),
    "saved": (
        "Saved to the draft. Families see it only after publishing.",
        "已保存到草稿，发布后才会对家长生效。",
    ),
    "question": ("Question", "问题"),
    "alternates": ("Other ways of asking (one a line)", "其他问法（每行一个）"),
    "answer": ("Answer", "回答"),
    "category": ("Category", "类别"),
    "keywords": ("Keywords (one a line)", "关键词（每行一个）"),
    "related": ("Related entries (ids, one a line)", "相关条目（编号，每行一个）"),
    "variants": ("Answers per province or campus (YAML)", "按省份或校区的回答（YAML）"),
    "source": ("Source document", "资料来源"),
    "file": ("File", "文件"),
    "characters": ("characters", "字"),
    "wechat_limit": ("WeChat limit", "微信上限"),
    "unlist": ("Take these words off the out-of-scope list", "将这些词移出“不回答”列表"),
    "draft_live": ("Draft", "草稿"),
    "live": ("Live", "线上"),
    "ask": ("Ask", "提问"),
    "confidence": ("Confidence", "置信度"),
    "runner_up": ("Runner-up", "第二候选"),
    "draft_broken": ("The draft has errors; fix them to try it.", "草稿有错误，修正后才能试用。"),
    "no_changes": ("The draft is the same as the live corpus.", "草稿与线上内容相同。"),
    "note": ("Note (what changed and why)", "说明（改了什么、为什么）"),
    "gate_passed": ("The checks pass: this draft can go live.", "检查通过：可以发布。"),
    "gate_failed": ("Publishing is refused:", "不能发布："),
    "new_failures": ("New failures", "新出现的错误"),
    "fixed_failures": ("Failures fixed", "已修复的错误"),
    "accept_relabel": ("Accept: relabel as", "接受并改标为"),
    "decline": ("decline", "不回答"),
    "published": ("Published.", "已发布。"),
    "discard": ("Discard the draft", "放弃草稿"),
    "rollback": ("Roll back to this version", "回滚到此版本"),
    "version": ("Version", "版本"),
    "who": ("Who", "操作人"),
    "when": ("When", "时间"),
    "what": ("What", "内容"),
    "asked": ("Asked", "提问次数"),
    "add_alternate": ("Add as a way of asking", "加为该条目的问法"),
    "start_entry": ("Start a new entry", "新建条目"),
    "mark_oos": ("Out of scope", "不在回答范围"),
    "dismiss": ("Dismiss", "忽略"),
    "inbox_empty": ("Nothing waiting.", "暂无待处理问题。"),
    "questions_per_day": ("Questions per day", "每日提问数"),
    "outcome_rates": ("Answered / did you mean / declined per day", "每日回答 / 猜您想问 / 未回答比例"),
    "top_entries": ("Top entries", "最常用条目"),
    "top_unanswered": ("Top unanswered groups", "最常见未回答问题"),
    "period": ("Period", "时间范围"),
    "days": ("days", "天"),
    "by_language": ("By language", "按语言"),
    "by_channel": ("By channel", "按渠道"),
    "errors": ("Errors", "错误"),
    "forbidden": ("Viewers cannot change anything.", "只读账号不能修改内容。"),
    "draft_has_changes": ("The draft has unpublished changes.", "草稿有未发布的修改。"),
    "diff": ("Changes", "修改内容"),
    "set": ("Evaluation set", "评估集"),
    "accuracy": ("accuracy", "准确率"),
    "none": ("none", "无"),
    "wechat_menu": ("WeChat menu", "微信菜单"),
    "wechat_menu_help": (
        "The Official Account's custom menu as config.yaml sets it (wechat.menu); each button answers with "
        "an entry or opens a link.",
        "公众号自定义菜单，内容来自 config.yaml 的 wechat.menu；每个按钮回复一个条目或打开一个链接。",
    ),
    "push_menu": ("Send this menu to WeChat", "将此菜单发布到微信"),
    "menu_pushed": (
        "Sent. Followers see the new menu within a few minutes.",
        "已发布，关注者几分钟内会看到新菜单。",
    ),
    "answered": ("Answered", "已回答"),
    "suggested": ("Did you mean", "猜您想问"),
    "declined": ("Declined", "未回答"),
    "total_questions": ("Questions in the period", "期间提问总数"),
    "picked": ("families then chose", "家长随后选择了"),
    "stale": (
        "The live corpus changed since this draft was started: the changes below would undo that. "
        "Discard the draft and redo your edits, or check the changes carefully.",
        "草稿创建后线上内容已有变化：下面的修改会撤销这些变化。请放弃草稿后重新修改，或仔细核对修改内容。",
    ),
    "source_needed": ("source: name the document the answer comes from", "资料来源：请写明答案出自哪份材料"),
    "draft_conflict": (
        "The draft was changed by {user} at {when} after you opened this page, so your save was refused to "
        "keep their change. Your text is still in the form: check it against the draft as it is now "
        "(Publish shows every change) and save again.",
        "您打开此页后，{user} 于 {when} 修改了草稿；为保留其修改，您的保存未生效。您填写的内容仍在表单中："
        "请对照当前草稿（“发布”页列出全部修改）核对后再次保存。",
    ),
}


def translate(key: str, lang: str) -> str:
    """The text for a key in a language (the key itself when missing, so a gap is visible, not fatal)."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "zh" else pair[0]
