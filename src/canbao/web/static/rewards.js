/* 考核奖惩 (county_admin): GET /api/v1/rewards?benefit_year= → each township's targets, completion, rank, prize
   and work subsidy; 下载 saves GET /api/v1/rewards/workbook. */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function card(label, value, detail) {
    return canbao.el("div", { className: "card" }, [
      canbao.el("div", { className: "label", text: label }),
      canbao.el("div", { className: "value", text: value }),
      canbao.el("div", { className: "detail", text: detail || "" }),
    ]);
  }

  var COLUMNS = [
    { key: "rank", label: "名次", num: true, format: canbao.count },
    { key: "township", label: "乡镇（街道）" },
    { key: "enrollment_target", label: "参保任务", num: true, format: canbao.count },
    { key: "enrolled", label: "已参保", num: true, format: canbao.count },
    { key: "enrollment_rate_bp", label: "参保完成率", num: true, format: canbao.rate },
    { key: "e_voucher_target", label: "电子凭证任务", num: true, format: canbao.count },
    { key: "activated", label: "已激活", num: true, format: canbao.count },
    { key: "e_voucher_rate_bp", label: "激活率", num: true, format: canbao.rate },
    { key: "completed", label: "完成任务" },
    { key: "prize", label: "奖励", format: function (v, row) { return v || (row.completed ? "—" : "未完成（通报）"); } },
    { key: "prize_fen", label: "奖金（元）", num: true, format: canbao.yuan },
    { key: "work_subsidy_fen", label: "工作经费补助（元）", num: true, format: canbao.yuan },
  ];

  function render(data) {
    var cards = byId("rewards-summary");
    canbao.replace(cards, null);
    cards.appendChild(card("全县参保", canbao.count(data.county_enrolled), "任务 " + canbao.count(data.enrollment_goal)));
    cards.appendChild(card("电子凭证激活", canbao.count(data.county_activated), "任务 " + canbao.count(data.e_voucher_goal)));
    cards.appendChild(card("完成任务的乡镇", canbao.count(data.completed_townships), "考核截至 " + data.cutoff));
    cards.appendChild(card("奖金合计（元）", canbao.yuan(data.prizes_fen), "工作经费补助 " + canbao.yuan(data.work_subsidy_fen) + " 元"));
    byId("rewards-note").textContent = (data.policy || "") + (data.ranking_note ? "：" + data.ranking_note : "");
    canbao.replace(byId("rewards"), canbao.table(COLUMNS, data.townships, { empty: "没有乡镇的考核结果" }));
  }

  canbaoMoney.reportPage("rewards", "/api/v1/rewards", render, ["rewards", "rewards-summary"]);
})();
