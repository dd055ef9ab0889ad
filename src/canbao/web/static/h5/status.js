"use strict";
(() => {
  const { el, yuan } = h5;
  const box = document.getElementById("status");
  const no = box.dataset.outTradeNo;
  const token = sessionStorage.getItem(`h5:order:${no}`);
  const text = document.getElementById("status-text");
  const note = document.getElementById("status-note");
  const WORDS = { open: "等待支付结果", paid: "缴费成功", flagged: "缴费待核对", closed: "订单已关闭" };
  if (!token) {
    text.textContent = "无法在此页面查询该订单";
    note.textContent = "订单的查询凭据只保存在下单的页面中。您可以在“参保查询”中查看是否已参保。";
    return;
  }
  let tries = 0;
  async function poll() {
    const answer = await h5.call("GET", `/api/v1/orders/${encodeURIComponent(no)}`, undefined, { "X-Order-Token": token });
    tries += 1;
    if (!answer.ok) {
      text.textContent = h5.problem(answer);
    } else {
      const o = answer.data;
      text.textContent = WORDS[o.status] || o.status;
      text.className = `big status-${o.status}`;
      document.getElementById("status-amount").textContent = `金额 ${yuan(o.amount)}`;
      const persons = (o.persons || []).map((p) => el("li", {}, `${p.name || ""} ${p.id_number || ""} ${yuan(p.amount)}`,
        p.enrolled ? " · 已参保" : ""));
      document.getElementById("status-persons").replaceChildren(...persons);
      if (o.status === "paid") {
        note.textContent = o.channel_txn_id ? `交易流水号 ${o.channel_txn_id}` : "";
        return;
      }
      if (o.status === "flagged") {
        note.textContent = "支付结果与订单不符，已转人工核对，请勿重复缴费。";
        return;
      }
      if (o.status === "closed") return;
    }
    note.textContent = "支付完成后本页会自动更新，请勿重复缴费。";
    if (tries < 150) setTimeout(poll, tries < 10 ? 1500 : 4000);
  }
  poll();
})();
