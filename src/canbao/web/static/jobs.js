/* 任务: GET /api/v1/jobs → the latest background jobs (the account's own; a county role's: all), each linking
   to its page; refreshed every few seconds while one is still queued or running. */
(function () {
  "use strict";

  var KIND_LABELS = { submission: "名单报送", season_open: "开征", payment_file: "缴费文件入账",
    reconciliation: "对账", cleanup: "重复/无效参保清理" };

  function what(job) {
    var r = job.result || {};
    var label = KIND_LABELS[job.kind] || job.kind;
    return r.kind_label ? label + "：" + r.kind_label : label;
  }

  function progress(job) {
    if (job.status === "done") {
      var r = job.result || {};
      if (job.kind === "submission" && r.committed === false && !r.replayed) {
        return "整批未导入（退回 " + canbao.count(r.rejected) + " 行）";
      }
      return "完成";
    }
    if (job.status === "failed") {
      return job.error || "失败";
    }
    return job.total ? canbao.count(job.done) + " / " + canbao.count(job.total) : "—";
  }

  var COLUMNS = [
    { key: "job_id", label: "编号", num: true, link: function (row) { return "/jobs/" + encodeURIComponent(row.job_id); } },
    { key: "kind", label: "任务", format: function (v, row) { return what(row); },
      link: function (row) { return "/jobs/" + encodeURIComponent(row.job_id); } },
    { key: "file", label: "文件", format: function (v, row) { return canbao.show((row.result || {}).file_name); } },
    { key: "status_label", label: "状态" },
    { key: "progress", label: "进度 / 结果", wrap: true, format: function (v, row) { return progress(row); } },
    { key: "actor", label: "发起人" },
    { key: "created_at", label: "发起时间", format: canbao.localTime },
  ];

  function load() {
    canbao.api("GET", "/api/v1/jobs").then(
      function (data) {
        var items = (data && data.items) || [];
        canbao.replace(document.getElementById("jobs"), canbao.table(COLUMNS, items, { empty: "还没有任务" }));
        if (items.some(function (j) { return j.status === "queued" || j.status === "running"; })) {
          window.setTimeout(load, 3000);
        }
      },
      function (err) { canbao.showError(document.getElementById("jobs-error"), err); }
    );
  }

  document.addEventListener("DOMContentLoaded", load);
})();
