"use strict";
/* 参保缴费: the payer and family members → POST /api/v1/orders/preview (each person's quote) → the quote in plain
   words → a channel → POST /api/v1/orders → the channel's pay step (Alipay's cashier, WeChat's 网页授权 then JSAPI), the demo
   simulator's cashier (pay_url) or the status page. */
(() => {
  const { el, yuan } = h5;
  const form = document.getElementById("pay-form");
  const error = document.getElementById("pay-error");
  const members = document.getElementById("members");
  const quoteBox = document.getElementById("quote");
  const TIMING = {
    upfront: "缴费时直接减免，您少缴这部分",
    refund_after_payment: "先缴后补：您先按标准全额缴纳，之后由乡镇（街道）退还给您",
  };
  const CATEGORY = {
    destitute: "特困人员", orphan: "孤儿", unsupported_child: "事实无人抚养儿童", dibao: "低保对象",
    near_dibao: "低保边缘家庭成员", relapsed_poor: "返贫致贫人口", monitored: "防止返贫监测对象",
    family_planning: "计划生育特殊家庭成员", key_entitled: "重点优抚对象", severe_disability: "重度残疾人",
    daughter_household: "独女户、双女户", son_household: "独男户",
  };
  let request = null;
  let channel = null;
  let channelList = [];

  function addMember(newborn) {
    const node = document.getElementById("member-template").content.firstElementChild.cloneNode(true);
    const index = members.children.length + 1;
    node.querySelector("legend").textContent = newborn ? `新生儿 ${index}` : `家庭成员 ${index}`;
    if (newborn) {
      node.dataset.newborn = "1";
      node.querySelector(".newborn-note").hidden = false;
      node.querySelector(".register").open = true;
      node.querySelector(".r-residency").value = "local_hukou";
      document.getElementById("newborn-rules").open = true;
    }
    node.querySelector(".remove").addEventListener("click", () => { node.remove(); showRules(); });
    const memberId = node.querySelector(".m-id");
    memberId.addEventListener("change", () => guessCounty(memberId, node));
    members.append(node);
    node.querySelector(".m-name").focus();
  }
  /* The county of a new registration: preselected from the ID number's first six digits when it is one of the
     page's; the newborn rules shown are those of the counties chosen (all while none is). */
  function guessCounty(idInput, scope) {
    const select = scope.querySelector(".r-county");
    const code = h5.normaliseId(idInput.value).slice(0, 6);
    if (select && [...select.options].some((o) => o.value === code)) select.value = code;
    showRules();
  }
  function showRules() {
    const chosen = new Set([...document.querySelectorAll(".r-county")].map((s) => s.value));
    const rules = [...document.querySelectorAll("#newborn-rules .rule")];
    const matching = rules.filter((r) => r.dataset.counties.split(" ").some((c) => chosen.has(c)));
    for (const r of rules) r.hidden = matching.length > 0 && !matching.includes(r);
  }
  const payerId = document.getElementById("payer-id");
  payerId.addEventListener("change", () => guessCounty(payerId, document.getElementById("payer-register")));
  document.addEventListener("change", (event) => { if (event.target.matches(".r-county")) showRules(); });

  document.getElementById("add-member").addEventListener("click", () => addMember(false));
  document.getElementById("add-newborn").addEventListener("click", () => addMember(true));

  function registration(scope, person) {
    const value = (selector) => (scope.querySelector(selector).value || "").trim();
    if (!value(".r-residency")) return person;  // renewing: the registry knows the rest
    for (const [key, selector] of [["residency", ".r-residency"], ["county", ".r-county"], ["township", ".r-township"],
      ["village", ".r-village"], ["phone", ".r-phone"]]) {
      const v = value(selector);
      if (v) person[key] = v;
    }
    return person;
  }

  function collect() {
    const payer = h5.identity(document.getElementById("payer-name"), document.getElementById("payer-id"), error);
    if (!payer) return null;
    const persons = [];
    if (document.getElementById("payer-self").checked) {
      persons.push(registration(document.getElementById("payer-register"), { ...payer }));
    }
    for (const node of members.children) {
      const who = h5.identity(node.querySelector(".m-name"), node.querySelector(".m-id"), error);
      if (!who) return null;
      const person = registration(node, who);
      if (node.dataset.newborn) person.situation = "newborn";
      persons.push(person);
    }
    if (!persons.length) return h5.fail(error, "请至少为一人缴费：勾选“为本人参保缴费”或添加家庭成员"), null;
    return { name: payer.name, id_number: payer.id_number, persons };
  }

  function subsidyWords(s) {
    const who = CATEGORY[s.category] || s.category || "";
    return `${who}资助 ${yuan(s.amount)}，由${s.payer || "财政"}承担；${TIMING[s.timing] || ""}（${s.clause}）`;
  }

  function personQuote(p) {
    const q = p.quote || {};
    const items = [];
    items.push(el("li", {}, `个人缴费标准 ${yuan(q.personal_standard)}`));
    for (const s of q.subsidies || []) items.push(el("li", { class: "subsidy" }, subsidyWords(s)));
    if (!(q.subsidies || []).length) items.push(el("li", {}, "没有适用的个人缴费资助或补贴"));
    for (const d of q.additional_dues || []) {
      items.push(el("li", { class: "warn additional-due" },
        `还须缴纳 ${d.benefit_year} 年度的 ${yuan(d.amount)}，才能同时享受 ${d.benefit_year} 年度的待遇；`,
        `本次只收取 ${q.benefit_year} 年度的费用，${d.benefit_year} 年度的费用请另行缴纳（${q.rule || ""}）`));
    }
    const waiting = q.waiting_months
      ? `有 ${q.waiting_months} 个月待遇等待期，自 ${q.benefit_start} 起享受待遇`
      : `自 ${q.benefit_start} 起享受待遇`;
    items.push(el("li", {}, `待遇享受期 ${q.benefit_start} 至 ${q.benefit_end}；${waiting}（${q.rule || ""}）`));
    if (q.net_personal !== undefined && q.net_personal !== q.amount_due) {
      items.push(el("li", {}, `扣除全部资助补贴后个人实际负担 ${yuan(q.net_personal)}`));
    }
    return el("article", { class: "card quote-person" },
      el("h3", {}, `${p.name} `, el("span", { class: "who", text: p.id_number || q.id_number || "" }),
        el("span", { class: "tag", text: p.renewing ? "续保" : "新参保" })),
      el("p", { class: "due" }, "本次应缴 ", el("strong", { text: yuan(p.amount !== undefined ? p.amount : q.amount_due) })),
      el("ul", { class: "plain" }, items));
  }

  async function loadChannels() {
    const box = document.getElementById("channels");
    const answer = await h5.call("GET", "/api/v1/resident/channels");
    const list = answer.ok ? answer.data.channels : [];
    box.replaceChildren(...list.map((c, i) => el("label", { class: "channel" },
      el("input", { type: "radio", name: "channel", value: c.name, checked: i === 0,
        onchange: () => { channel = c.name; } }), el("span", { text: c.label }))));
    channel = list.length ? list[0].name : null;
    channelList = list;
    if (!list.length) box.append(el("p", { class: "note", text: "暂无可用的线上缴费渠道，请到村（社区）或乡镇（街道）办理" }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    request = collect();
    if (!request) return;
    const button = document.getElementById("preview");
    h5.busy(button, true, "计算中…");
    const answer = await h5.call("POST", "/api/v1/orders/preview", { persons: request.persons });
    h5.busy(button, false);
    if (!answer.ok) return h5.fail(error, h5.problem(answer));
    const persons = Array.isArray(answer.data) ? answer.data : answer.data.persons || [];
    const total = persons.reduce((sum, p) => sum + Math.round(Number((p.quote || {}).amount_due || 0) * 100), 0) / 100;
    document.getElementById("quote-persons").replaceChildren(...persons.map(personQuote));
    document.getElementById("quote-total").textContent = yuan(total);
    await loadChannels();
    form.hidden = true;
    quoteBox.hidden = false;
    quoteBox.scrollIntoView({ block: "start" });
  });

  document.getElementById("change").addEventListener("click", () => {
    quoteBox.hidden = true;
    form.hidden = false;
  });

  document.getElementById("pay").addEventListener("click", async (event) => {
    const orderError = document.getElementById("order-error");
    if (!channel) return h5.fail(orderError, "请选择缴费渠道");
    const chosen = channelList.find((c) => c.name === channel) || {};
    if (chosen.kind === "wechatpay_v3" && chosen.pay_step && !h5.inWeChat()) {
      return h5.fail(orderError, "微信支付须在微信中完成：请在微信中打开本页面缴费，或改选其他缴费渠道。");
    }
    const button = event.currentTarget;
    h5.busy(button, true, "正在下单…");
    const answer = await h5.call("POST", "/api/v1/orders", { ...request, channel });
    if (!answer.ok) {
      h5.busy(button, false);
      return h5.fail(orderError, h5.problem(answer));
    }
    const order = answer.data;
    if (order.token) sessionStorage.setItem(`h5:order:${order.out_trade_no}`, order.token);
    if (order.pay_step) return payStep(order, button, orderError);
    // pay_url: the demo simulator's cashier (a channel without its pay step); else the status page waits
    location.href = order.pay_url || `/h5/status/${encodeURIComponent(order.out_trade_no)}`;
  });

  /* The channel's own pay step (POST /api/v1/orders/{no}/pay): Alipay's cashier (手机网站支付) or WeChat's
     网页授权, then /h5/wxpay/{no} places the JSAPI order and calls WeixinJSBridge. */
  async function payStep(order, button, orderError) {
    const no = order.out_trade_no;
    const wechat = order.pay_step === "wechatpay_v3";
    if (wechat && !h5.inWeChat()) {
      h5.busy(button, false);
      return h5.fail(orderError, "微信支付须在微信中完成：请在微信中打开本页面缴费，或改选其他缴费渠道。订单已生成，未发生扣款。");
    }
    const answer = await h5.startPayStep(no, order.token, wechat);
    if (!answer.ok) {
      h5.busy(button, false);
      return h5.fail(orderError, h5.problem(answer));
    }
    location.href = answer.data.how === "redirect" ? answer.data.url : `/h5/status/${encodeURIComponent(no)}`;
  }
})();
