/* 重复参保及无效参保清理 (county_admin): the benefit year, the list's day and the registers → POST
   /api/v1/cleanup (multipart, CSRF) → the job's page (counts by reason, 清理清单 workbook). */
(function () {
  "use strict";

  var FILES = ["deaths", "employees", "other_counties"];

  document.addEventListener("DOMContentLoaded", function () {
    var error = document.getElementById("cleanup-error");
    var year = document.getElementById("benefit-year");
    canbaoMoney.years(year, error).then(function () { return canbaoMoney.policies(document.getElementById("policy"), year); });
    document.getElementById("cleanup-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!year.value) {
        canbao.showError(error, { message: "请选择待遇年度" });
        return;
      }
      var data = new FormData();
      data.append("benefit_year", year.value);
      var policy = document.getElementById("policy").value;
      if (policy) {
        data.append("policy", policy);
      }
      var day = document.getElementById("as-of").value;
      if (day) {
        data.append("as_of", day);
      }
      var any = false;
      FILES.forEach(function (name) {
        var input = document.getElementById(name);
        if (input.files && input.files.length) {
          data.append(name, input.files[0]);
          any = true;
        }
      });
      if (!any) {
        canbao.showError(error, { message: "请至少上传一种名单：死亡人员、职工医保参保人员或其他县（区）参保名册" });
        return;
      }
      canbaoOps.startJob(canbao.upload("/api/v1/cleanup", data), document.getElementById("cleanup"), error);
    });
  });
})();
