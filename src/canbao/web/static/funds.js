/* 资金核算 (county_admin, tax): GET /api/v1/funds?benefit_year= → fiscal subsidy per level and per township, the
   category subsidies (ledger against enrollments), what finance transfers per township, the county subsidies
   paid back and owed; 下载 saves GET /api/v1/funds/workbook.  Money in yuan (the API gives integer fen). */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  var FISCAL = [["township", "乡镇"], ["persons", "有效参保人数", true], ["fiscal_central_fen", "中央（元）"],
    ["fiscal_province_fen", "省级（元）"], ["fiscal_city_fen", "市级（元）"], ["fiscal_county_fen", "县级（元）"],
    ["fiscal_total_fen", "合计（元）"], ["unsplit", "未分级人数", true]];

  function render(data) {
    var root = byId("funds");
    canbao.replace(root, null);
    var m = canbaoMoney;
    root.appendChild(m.section("funds-levels", "财政补助（全县，按级次）",
      m.moneyTable([["label", "级次"], ["persons", "人数", true], ["amount_fen", "应到位金额（元）"]], data.levels)));
    root.appendChild(m.section("funds-townships", "财政补助（按乡镇）",
      m.moneyTable(FISCAL, (data.fiscal_by_township || []).concat([data.fiscal_county]))));
    root.appendChild(m.section("funds-subsidies", "分类资助（缴费时抵扣）",
      m.moneyTable([["subsidy_kind_label", "资助类型"], ["subsidy_category_label", "身份类别"], ["payer", "出资渠道"],
        ["persons", "人数", true], ["ledger_fen", "台账金额（元）"], ["enrollment_fen", "参保记录金额（元）"],
        ["difference_fen", "差额（元）"]], data.subsidies_by_category)));
    var transfers = m.section("funds-transfers", "资助划拨（按乡镇）",
      m.moneyTable([["township", "乡镇"], ["subsidy_kind_label", "资助类型"], ["subsidy_category_label", "身份类别"],
        ["payer", "出资渠道"], ["persons", "人数", true], ["amount_fen", "划拨金额（元）"]], data.transfers_by_township));
    transfers.appendChild(canbao.el("p", { className: "muted",
      text: "合计 " + canbao.count(data.transfer_persons) + " 人，" + canbao.yuan(data.transfer_fen) + " 元" }));
    root.appendChild(transfers);
    root.appendChild(m.section("funds-county-subsidy", "先缴后补（按乡镇）",
      m.moneyTable([["township", "乡镇"], ["entitled_persons", "应补人数", true], ["entitled_fen", "应补（元）"],
        ["paid_persons", "已退补人数", true], ["paid_fen", "已退补（元）"], ["owed_persons", "待退补人数", true],
        ["owed_fen", "待退补（元）"]], (data.county_subsidy_by_township || []).concat([data.county_subsidy_total]))));
    if (data.subsidy_differences) {
      canbao.showInfo(byId("funds-info"), "台账与参保记录不一致 " + data.subsidy_differences + " 条，明细见工作簿。");
    }
    (data.notes || []).forEach(function (note) {
      root.appendChild(canbao.el("p", { className: "hint", text: note }));
    });
  }

  canbaoMoney.reportPage("funds", "/api/v1/funds", render, ["funds"]);
})();
