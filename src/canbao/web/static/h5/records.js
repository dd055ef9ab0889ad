"use strict";
(() => {
  const form = document.getElementById("identity");
  const out = document.getElementById("records");
  const error = document.getElementById("identity-error");
  const { el, yuan, row } = h5;

  function enrollmentCard(e) {
    const paid = e.payments.map((p) =>
      el("li", {}, `${p.recorded_at} ${p.kind_label} ${yuan(p.amount)}`, p.channel_label ? ` · ${p.channel_label}` : "",
        p.txn_id ? el("br") : null, p.txn_id ? el("small", { text: `交易流水号 ${p.txn_id}` }) : null,
        p.out_trade_no ? el("small", { text: ` 订单号 ${p.out_trade_no}` }) : null));
    return el("article", { class: "card enrollment", "data-enrollment": e.enrollment_id },
      el("h3", {}, `${e.benefit_year} 年度 `, el("span", { class: `status status-${e.status}`, text: e.status_label })),
      el("dl", {},
        row("待遇享受期", `${e.benefit_start} 至 ${e.benefit_end}`),
        row("缴费日期", e.paid_on),
        row("缴费金额", yuan(e.amount)),
        row("缴费渠道", e.channel_label || "—"),
        row("交易流水号", e.txn_id || "—"),
        e.out_trade_no ? row("订单号", e.out_trade_no) : [],
        e.refund_request ? row("退费申请", e.refund_request) : []),
      paid.length ? el("details", {}, el("summary", { text: "收支明细" }), el("ul", { class: "plain" }, paid)) : null,
      el("a", { class: "button small", href: `/h5/certificate#${e.enrollment_id}`, text: "参保凭证" }));
  }

  function personBlock(person, title) {
    return el("section", { class: "person" },
      el("h2", {}, title, " ", el("span", { class: "who", text: `${person.name} ${person.masked_id}` })),
      person.enrollments.length ? person.enrollments.map(enrollmentCard)
        : el("p", { class: "card empty", text: "没有参保记录" }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const who = h5.identity(document.getElementById("name"), document.getElementById("id-number"), error);
    if (!who) return;
    const button = document.getElementById("identity-submit");
    h5.busy(button, true, "查询中…");
    const answer = await h5.call("POST", "/api/v1/resident/records", who);
    h5.busy(button, false);
    out.replaceChildren();
    if (!answer.ok) return h5.fail(error, h5.problem(answer));
    sessionStorage.setItem("h5:who", JSON.stringify({ name: who.name }));
    out.append(personBlock(answer.data.me, "本人"));
    for (const member of answer.data.family) out.append(personBlock(member, "家庭成员"));
    out.hidden = false;
  });
})();
