/* 缴费文件入账: the policy and the channels' payment file → POST /api/v1/payment-files (multipart, CSRF) → the
   job's page (every payment's outcome in 逐笔结果.csv). */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("policy");
    var error = document.getElementById("payments-error");
    canbaoOps.policies(select, error);
    document.getElementById("payments-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var file = document.getElementById("file");
      if (!select.value) {
        canbao.showError(error, { message: "请选择政策" });
        return;
      }
      if (!file.files || !file.files.length) {
        canbao.showError(error, { message: "请选择缴费通知文件" });
        return;
      }
      var data = new FormData();
      data.append("policy", select.value);
      data.append("file", file.files[0]);
      canbaoOps.startJob(canbao.upload("/api/v1/payment-files", data), document.getElementById("apply-payments"), error);
    });
  });
})();
