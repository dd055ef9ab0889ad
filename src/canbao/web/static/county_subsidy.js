/* 先缴后补退补: GET /api/v1/county-subsidy?benefit_year= → the persons of the caller's area who paid in full and
   are owed the county's subsidy back (a township: its own; county roles: all); where the account may record
   (township, county_admin: GET /api/v1/money/choices), each row has 登记已退补 → POST
   /api/v1/county-subsidy/record {person_id, benefit_year} (CSRF), and the list is read again. */
(function () {
  "use strict";

  var mayRecord = false;

  function byId(id) {
    return document.getElementById(id);
  }

  var COLUMNS = [
    { key: "township", label: "乡镇（街道）" },
    { key: "village", label: "村（社区）" },
    { key: "name", label: "姓名", link: function (row) { return "/persons/" + encodeURIComponent(row.person_id); } },
    { key: "id_number", label: "身份证号（隐去中间位数）" },
    { key: "subsidy_category_label", label: "身份类别" },
    { key: "subsidy_fen", label: "应退补（元）", num: true, format: canbao.yuan },
  ];

  function recordButton(row, year) {
    var button = canbao.el("button", { type: "button", className: "secondary", text: "登记已退补" });
    button.addEventListener("click", function () {
      button.disabled = true;
      canbao.api("POST", "/api/v1/county-subsidy/record", { person_id: row.person_id, benefit_year: Number(year) }).then(
        function (done) {
          canbao.showInfo(byId("subsidy-info"), "已登记：" + row.name + "（" + done.id_number + "）由" + done.township +
            "退补 " + canbao.yuan(done.paid_fen) + " 元");
          load();
        },
        function (err) {
          button.disabled = false;
          canbao.showError(byId("subsidy-error"), err);
        }
      );
    });
    return button;
  }

  function load() {
    var error = byId("subsidy-error");
    canbao.clearMessage(error);
    var year = byId("benefit-year").value;
    if (!year) {
      canbao.showError(error, { message: "请选择待遇年度" });
      return;
    }
    canbao.api("GET", "/api/v1/county-subsidy?benefit_year=" + encodeURIComponent(year)).then(
      function (data) {
        var items = (data && data.items) || [];
        byId("subsidy-total").textContent = "待退补 " + canbao.count(data.persons) + " 人，合计 " + canbao.yuan(data.total_fen) + " 元";
        var columns = mayRecord ? COLUMNS.concat([{ key: "action", label: "操作" }]) : COLUMNS;
        var table = canbao.table(columns, items, { empty: "本辖区没有待退补的人员" });
        if (mayRecord) {
          var rows = table.querySelectorAll("tbody tr");
          items.forEach(function (row, i) {
            var cell = rows[i].lastChild;
            cell.textContent = "";
            cell.appendChild(recordButton(row, year));
            rows[i].setAttribute("data-person-id", String(row.person_id));
          });
        }
        canbao.replace(byId("subsidy"), table);
      },
      function (err) {
        canbao.replace(byId("subsidy"), null);
        byId("subsidy-total").textContent = "";
        canbao.showError(error, err);
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    Promise.all([
      canbaoMoney.years(byId("benefit-year"), byId("subsidy-error")),
      canbao.api("GET", "/api/v1/money/choices").catch(function () { return { work: [] }; }),
    ]).then(function (answers) {
      mayRecord = (answers[1].work || []).some(function (w) { return w.value === "county_subsidy_record"; });
      if (answers[0] && answers[0].default) {
        load();
      }
    });
    byId("subsidy-form").addEventListener("submit", function (event) {
      event.preventDefault();
      load();
    });
  });
})();
