/* 对账: the day, the benefit year (optional) and the files → POST /api/v1/reconciliations (multipart, CSRF) →
   the job's page (findings per kind, the reconciliation workbook). */
(function () {
  "use strict";

  var FILES = ["tax", "bank", "collections", "other_counties", "deaths", "employees", "unit_aliases"];

  document.addEventListener("DOMContentLoaded", function () {
    var error = document.getElementById("reconcile-error");
    var year = document.getElementById("benefit-year");
    canbao.api("GET", "/api/v1/benefit-years").then(
      function (data) {
        ((data && data.years) || []).forEach(function (y) {
          year.appendChild(canbao.el("option", { value: String(y), text: y + " 年度" }));
        });
        document.getElementById("as-of").value = (data && data.today) || "";
      },
      function (err) { canbao.showError(error, err); }
    );
    document.getElementById("reconcile-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var day = document.getElementById("as-of").value;
      if (!day) {
        canbao.showError(error, { message: "请选择对账截止日期" });
        return;
      }
      var data = new FormData();
      data.append("as_of", day);
      if (year.value) {
        data.append("benefit_year", year.value);
      }
      var any = false;
      FILES.forEach(function (name) {
        var input = document.getElementById(name);
        Array.prototype.forEach.call(input.files || [], function (f) {
          data.append(name, f);
          any = true;
        });
      });
      if (!any) {
        canbao.showError(error, { message: "请至少上传税务征收明细、银行流水或代收单位清单中的一种" });
        return;
      }
      canbaoOps.startJob(canbao.upload("/api/v1/reconciliations", data), document.getElementById("reconcile"), error);
    });
  });
})();
