/* What 开征, 缴费文件入账 and 对账 share: the policies for a select (GET /api/v1/submissions), the benefit years
   (GET /api/v1/benefit-years), and starting a job then going to its page. */
(function () {
  "use strict";

  function policies(select, errorNode) {
    return Promise.all([
      canbao.api("GET", "/api/v1/submissions"),
      canbao.api("GET", "/api/v1/benefit-years").catch(function () { return null; }),
    ]).then(
      function (answers) {
        var list = (answers[0] && answers[0].policies) || [];
        var year = answers[1] && answers[1].default;
        select.appendChild(canbao.el("option", { value: "", text: "请选择政策" }));
        list.forEach(function (p) { select.appendChild(canbao.el("option", { value: p, text: p })); });
        var fitting = list.filter(function (p) { return year && p.slice(-5) === "/" + year; });
        if (fitting.length === 1) {
          select.value = fitting[0];
        }
        return answers[1];
      },
      function (err) { canbao.showError(errorNode, err); return null; }
    );
  }

  function startJob(promise, button, errorNode) {
    var label = button.textContent;
    button.disabled = true;
    button.textContent = "正在提交…";
    canbao.clearMessage(errorNode);
    promise.then(
      function (answer) { window.location.assign("/jobs/" + encodeURIComponent(answer.job_id)); },
      function (err) {
        button.disabled = false;
        button.textContent = label;
        canbao.showError(errorNode, err);
      }
    );
  }

  window.canbaoOps = { policies: policies, startJob: startJob };
})();
