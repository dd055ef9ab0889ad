"use strict";
(() => {
  const { el, yuan } = h5;
  const form = document.getElementById("refund-form");
  const error = document.getElementById("refund-error");
  const out = document.getElementById("refund-answer");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const who = h5.identity(document.getElementById("name"), document.getElementById("id-number"), error);
    if (!who) return;
    const year = Number(document.getElementById("benefit-year").value.trim());
    if (!Number.isInteger(year) || year < 2000 || year > 2100) return h5.fail(error, "请填写待遇年度，如 2022");
    const button = document.getElementById("refund-submit");
    h5.busy(button, true, "提交中…");
    const answer = await h5.call("POST", "/api/v1/resident/refund-requests",
      { ...who, benefit_year: year, reason: document.getElementById("reason").value });
    h5.busy(button, false);
    out.replaceChildren();
    if (!answer.ok) return h5.fail(error, h5.problem(answer));
    const a = answer.data;
    const headline = !a.covered ? "政策未规定此情形的退费"
      : a.refundable ? (a.already_requested ? "您已提交过申请，正在办理" : "可以退费，申请已受理") : "不能退费";
    out.append(
      el("h2", { class: a.refundable ? "ok" : "no", id: "refund-headline", text: headline }),
      el("dl", {}, h5.row("待遇年度", `${a.benefit_year} 年度`), h5.row("退费原因", a.reason_label),
        a.refundable ? h5.row("可退金额", yuan(a.amount)) : [], h5.row("办理状态", a.status_label)),
      el("p", { class: "why", id: "refund-why", text: a.why }),
      a.refundable ? el("p", { class: "note", text: "医保经办机构将在终止参保关系的同时办理退费，款项退回原缴费渠道或您的银行账户。" }) : null);
    out.hidden = false;
  });
})();
