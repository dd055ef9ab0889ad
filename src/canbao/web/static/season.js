/* 开征: the policy (from the policies list) → POST /api/v1/season/open (CSRF) → the job's page. */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("policy");
    var error = document.getElementById("season-error");
    canbaoOps.policies(select, error);
    document.getElementById("season-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!select.value) {
        canbao.showError(error, { message: "请选择政策" });
        return;
      }
      canbaoOps.startJob(
        canbao.api("POST", "/api/v1/season/open", { policy: select.value }), document.getElementById("open-season"), error
      );
    });
  });
})();
