/* 审计日志 (county_admin): GET /api/v1/audit?actor=&action=&outcome=&before_id= → the newest lines first;
   下一页 asks for the lines before the last one shown (next_before_id). */
(function () {
  "use strict";

  var ACTIONS = {
    login: "登录", logout: "退出登录", person_view: "查看人员", id_reveal: "查看完整身份证号",
    out_of_area: "访问辖区外记录", user_add: "新增用户", user_disable: "停用用户", user_enable: "启用用户",
      user_password: "重设用户密码", pay: "缴费", refund: "退费",
    enroll: "参保登记", import_department_list: "导入认定名单", import_roster: "导入参保名册",
    import_school: "导入学生名册", import_targets: "导入任务分解表", import_e_vouchers: "导入电子凭证激活记录",
    open_season: "开征", apply_payments: "缴费文件入账", county_subsidy_refund: "先缴后补退补",
    suspend: "暂停参保", terminate: "终止参保", notify: "渠道通知", purge: "清除过期访问记录",
  };
  var COLUMNS = [
    { key: "id", label: "编号", num: true },
    { key: "at", label: "时间" },
    { key: "actor", label: "操作人" },
    { key: "action", label: "操作", format: function (v) { return ACTIONS[v] ? ACTIONS[v] + "（" + v + "）" : canbao.show(v); } },
    { key: "subject", label: "对象", wrap: true },
    { key: "outcome_label", label: "结果" },
    { key: "detail", label: "详情", wrap: true },
  ];
  var PER_PAGE = 25;
  var filters = {};

  function byId(id) {
    return document.getElementById(id);
  }

  function load(beforeId) {
    var params = ["limit=" + PER_PAGE];
    Object.keys(filters).forEach(function (k) {
      if (filters[k]) {
        params.push(k + "=" + encodeURIComponent(filters[k]));
      }
    });
    if (beforeId) {
      params.push("before_id=" + encodeURIComponent(beforeId));
    }
    var error = byId("audit-error");
    canbao.clearMessage(error);
    canbao.api("GET", "/api/v1/audit?" + params.join("&")).then(
      function (data) {
        canbao.replace(byId("audit"), canbao.table(COLUMNS, data.items, { empty: "没有符合条件的日志" }));
        var next = byId("audit-next");
        next.hidden = !data.next_before_id;
        next.setAttribute("data-before-id", data.next_before_id || "");
        byId("audit-first").hidden = !beforeId;
      },
      function (err) {
        canbao.replace(byId("audit"), null);
        canbao.showError(error, err);
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    var action = byId("action");
    Object.keys(ACTIONS).forEach(function (k) { action.appendChild(canbao.el("option", { value: k, text: ACTIONS[k] })); });
    byId("audit-form").addEventListener("submit", function (event) {
      event.preventDefault();
      filters = { actor: byId("actor").value.trim(), action: action.value, outcome: byId("outcome").value };
      load(null);
    });
    byId("audit-next").addEventListener("click", function (event) {
      load(event.target.getAttribute("data-before-id"));
    });
    byId("audit-first").addEventListener("click", function () { load(null); });
    load(null);
  });
})();
