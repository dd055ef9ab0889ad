/* One background job: GET /api/v1/jobs/{id} every second while it is queued or running (a progress bar: steps
   done of the total, and the stage), then its result.  A list's result is its summary, every row's result
   (GET /api/v1/jobs/{id}/rows, paginated, filterable by outcome), its feedback workbook and, when it was refused
   whole, 只导入有效行 (POST …/import-valid).  开征, 缴费文件入账 and 对账 show their figures and files.  A failed
   job shows its error — a job cut off by a server restart says so — and 重新运行 (POST …/rerun). */
(function () {
  "use strict";

  var KIND_LABELS = { submission: "名单报送", season_open: "开征", payment_file: "缴费文件入账",
    reconciliation: "对账", cleanup: "重复/无效参保清理" };
  var POLL_MS = 1000;
  var PER_PAGE = 50;
  var RESULT_LABELS = {
    file_name: "文件", kind_label: "名单类型", rows_total: "总行数", accepted: "接收", rejected: "退回",
    duplicates: "重复", new_persons: "新登记人员", not_covered: "未纳入（不在政策范围内）", skipped: "跳过的行",
    batch_id: "导入批次", policy: "政策", benefit_year: "待遇年度", candidates: "测算人数", due: "列入应缴",
    amount_due_fen: "应缴金额（元）", not_due: "未列入应缴", rows: "缴费笔数", enrolled: "入账（参保）",
    replayed: "重复通知（已入账，跳过）", refused: "拒绝", as_of: "对账截止日期",
    townships: "乡镇数", replaced: "替换原有任务行", recorded: "新记录激活", already: "此前已激活",
  };
  var PER_KIND = {
    submission: { replayed: "此前已导入", rows: "总行数" },
    cleanup: { as_of: "清单日期（退费申请日期）", refund: "应退费人数", refund_fen: "应退费金额（元）",
      terminate: "应终止参保（已缴费）", stop_chasing: "停止催缴（未缴费）", refund_not_covered: "政策未规定能否退费",
      as_of_defaulted: "清单日期取默认值" },
  };
  var CATEGORIES = {
    destitute: "特困人员", orphan: "孤儿", unsupported_child: "事实无人抚养儿童", dibao: "低保对象",
    near_dibao: "低保边缘家庭成员", relapsed_poor: "返贫致贫人口", monitored: "监测人口", family_planning: "计生代缴对象",
    key_entitled: "重点优抚对象", severe_disability: "重度残疾人", daughter_household: "农村独女户、双女户",
    son_household: "农村独男户",
  };
  var COUNT_LABELS = { registry: "登记缴费", tax: "税务明细", bank: "银行流水", collecting_unit: "代收单位清单",
    other_county: "外县名册" };
  var ROW_COLUMNS = [
    { key: "row_number", label: "行号", num: true },
    { key: "name", label: "姓名" },
    { key: "id_number", label: "身份证号（隐去中间位数）" },
    { key: "category", label: "身份类别", format: function (v) { return CATEGORIES[v] || canbao.show(v); } },
    { key: "outcome_label", label: "结果" },
    { key: "reason", label: "原因", wrap: true },
    { key: "resolved", label: "认定结果", wrap: true },
  ];
  var PLAIN = { benefit_year: true, batch_id: true }; // numbers that are names, not counts
  var TARGET_KINDS = { enrollment: "参保任务", e_voucher: "电子凭证激活任务" };
  var HIDDEN = { files: true, kind: true, summary: true, committed: true, counts: true, tests: true, findings: true,
    by_reason: true };

  var jobId;
  var rowsState = { page: 1, outcome: "", total: 0 };

  function byId(id) {
    return document.getElementById(id);
  }

  function base() {
    return "/api/v1/jobs/" + encodeURIComponent(jobId);
  }

  function fact(dl, label, value, id) {
    dl.appendChild(canbao.el("dt", { text: label }));
    var dd = canbao.el("dd", { text: value });
    if (id) {
      dd.id = id;
    }
    dl.appendChild(dd);
    return dd;
  }

  function showState(job) {
    var label = KIND_LABELS[job.kind] || job.kind;
    byId("job-title").textContent = label + "（任务 " + job.job_id + "）";
    document.title = label + " — 任务 " + job.job_id + " — 城乡居民医保参保工作平台";
    var dl = byId("job-facts");
    canbao.replace(dl, null);
    var status = fact(dl, "状态", job.status_label || job.status, "job-status");
    status.className = "status-" + job.status;
    fact(dl, "发起人", canbao.show(job.actor));
    fact(dl, "发起时间", canbao.localTime(job.created_at));
    fact(dl, "结束时间", job.finished_at ? canbao.localTime(job.finished_at) : "—");
    var bar = byId("job-progress");
    var text = byId("job-progress-text");
    var total = job.total || 0;
    var done = job.done || 0;
    if (job.status === "done") {
      bar.max = 1;
      bar.value = 1;
      text.textContent = "已完成" + (total ? "（" + canbao.count(done) + " / " + canbao.count(total) + "）" : "");
    } else if (job.status === "failed") {
      if (total) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else {
        bar.removeAttribute("value");
      }
      text.textContent = "未完成";
    } else if (total > 0) {
      bar.max = total;
      bar.value = Math.min(done, total);
      text.textContent = (job.stage ? job.stage + "：" : "") + canbao.count(done) + " / " + canbao.count(total);
    } else {
      bar.removeAttribute("value"); // not yet counted: an indeterminate bar
      text.textContent = job.status === "queued" ? "排队中…" : (job.stage || "正在运行…");
    }
    bar.setAttribute("data-status", job.status);
  }

  function poll() {
    canbao.api("GET", base()).then(
      function (job) {
        showState(job);
        if (job.status === "queued" || job.status === "running") {
          window.setTimeout(poll, POLL_MS);
        } else if (job.status === "done") {
          showResult(job);
        } else {
          showFailure(job);
        }
      },
      function (err) {
        if (err.status === 404) {
          byId("job-title").textContent = "未找到该任务";
          byId("job-state").hidden = true;
        }
        canbao.showError(byId("job-error"), err);
      }
    );
  }

  function start(url, button) {
    button.disabled = true;
    canbao.api("POST", url).then(
      function (answer) { window.location.assign("/jobs/" + encodeURIComponent(answer.job_id)); },
      function (err) {
        button.disabled = false;
        canbao.showError(byId("job-error"), err);
      }
    );
  }

  function showFailure(job) {
    byId("job-failed").hidden = false;
    byId("job-failure").textContent = job.error || "任务失败";
    var interrupted = /重启|中断/.test(job.error || "");
    var note = byId("job-interrupted");
    if (interrupted) {
      canbao.showInfo(note, "此任务在运行中因服务器重启而中断，不是文件或数据有误。可以点击“重新运行”再次运行。");
    }
    var button = byId("rerun");
    button.addEventListener("click", function () { start(base() + "/rerun", button); });
  }

  function figures(result, kind) {
    var labels = PER_KIND[kind] || {};
    var dl = canbao.el("dl", { className: "facts", id: "result-facts" });
    Object.keys(result).forEach(function (k) {
      var value = result[k];
      if (HIDDEN[k] || value === null || value === undefined || value === "" || typeof value === "object") {
        return;
      }
      var text = /_fen$/.test(k) ? canbao.yuan(value) : typeof value === "number" && !PLAIN[k] ? canbao.count(value) : canbao.show(value);
      var dd = canbao.el("dd", { text: text });
      dd.setAttribute("data-key", k);
      if (kind === "submission" && k === "replayed" && !value) {
        return;
      }
      dl.appendChild(canbao.el("dt", { text: labels[k] || RESULT_LABELS[k] || k }));
      dl.appendChild(dd);
    });
    return dl;
  }

  function mapTable(title, map, labels, format) {
    var rows = Object.keys(map || {}).map(function (k) {
      return { what: (labels && labels[k]) || k, value: format(map[k]) };
    });
    if (!rows.length) {
      return null;
    }
    return canbao.el("div", null, [
      canbao.el("h3", { text: title }),
      canbao.table([{ key: "what", label: "项目" }, { key: "value", label: "结果", num: true }], rows),
    ]);
  }

  function outcome(job) {
    var r = job.result || {};
    var line = byId("job-outcome");
    if (job.kind === "submission") {
      if (r.replayed) {
        line.textContent = "该文件此前已导入（批次 " + canbao.show(r.batch_id) + "），本次未写入任何数据。";
        line.className = "message info";
      } else if (r.committed) {
        line.textContent = "已导入" + (r.rows_total !== undefined ? "：接收 " + canbao.count(r.accepted) + " 行" +
          (r.rejected ? "，退回 " + canbao.count(r.rejected) + " 行（未导入）" : "") : "") + "。";
        line.className = "message good";
      } else {
        line.textContent = "整批未导入：有 " + canbao.count(r.rejected) + " 行被退回（原因见下表和反馈工作簿）。" +
          "请修改后重新报送，或选择只导入有效行。";
        line.className = "message error";
        byId("import-valid-line").hidden = false;
        var button = byId("import-valid");
        button.addEventListener("click", function () { start(base() + "/import-valid", button); });
      }
    } else {
      line.textContent = (KIND_LABELS[job.kind] || "任务") + "已完成。";
      line.className = "message good";
    }
    line.id = "job-outcome";
  }

  function showResult(job) {
    var r = job.result || {};
    byId("job-result").hidden = false;
    outcome(job);
    var summary = byId("job-summary");
    canbao.replace(summary, figures(r, job.kind));
    if (r.summary) {
      // the import's own lines (the API leaves out the server's file paths: the files are offered below)
      summary.appendChild(canbao.el("pre", { className: "summary", id: "result-summary", text: String(r.summary) }));
    }
    [mapTable("各来源记录数", r.counts, COUNT_LABELS, canbao.count),
     mapTable("核对", r.tests, null, function (ok) { return ok ? "相符" : "不符"; }),
     mapTable("问题（按类型）", r.findings, null, canbao.count),
     mapTable("按原因", r.by_reason, null, canbao.count),
     mapTable("任务数合计", r.totals, TARGET_KINDS, canbao.count),
     mapTable("任务表行数", r.villages, TARGET_KINDS, canbao.count)].forEach(function (t) {
      if (t) {
        summary.appendChild(t);
      }
    });
    var files = r.files || [];
    if (files.length) {
      var list = byId("job-file-list");
      canbao.replace(list, null);
      files.forEach(function (name) {
        var a = canbao.el("a", { href: base() + "/files/" + encodeURIComponent(name), download: name, text: name });
        list.appendChild(canbao.el("li", null, [a, canbao.el("span", { className: "hint", text: " " + describe(name) })]));
      });
      byId("job-files").hidden = false;
    }
    if (job.kind === "submission" && r.rows_total !== undefined) {
      byId("job-rows").hidden = false;
      loadRows();
    }
  }

  function describe(name) {
    if (/反馈/.test(name)) {
      return "反馈工作簿：每一行的结果和退回原因，修改后可重新报送";
    }
    if (/逐笔结果/.test(name)) {
      return "每一笔缴费的入账结果";
    }
    if (/清理清单/.test(name)) {
      return "应终止参保、应退费和停止催缴的人员（身份证号已隐去中间位数）";
    }
    if (/未列入应缴/.test(name)) {
      return "未列入应缴的人员及原因";
    }
    return "";
  }

  function loadRows() {
    var params = "?page=" + rowsState.page + "&per_page=" + PER_PAGE;
    if (rowsState.outcome) {
      params += "&outcome=" + encodeURIComponent(rowsState.outcome);
    }
    var holder = byId("rows-table");
    canbao.api("GET", base() + "/rows" + params).then(
      function (data) {
        rowsState.total = data.total;
        var pages = Math.max(1, Math.ceil(data.total / PER_PAGE));
        canbao.replace(holder, canbao.table(ROW_COLUMNS, data.items, { empty: "没有符合条件的行" }));
        byId("rows-count").textContent = "共 " + canbao.count(data.total) + " 行";
        byId("rows-page").textContent = "第 " + data.page + " / " + pages + " 页";
        byId("rows-prev").disabled = data.page <= 1;
        byId("rows-next").disabled = data.page >= pages;
      },
      function (err) { canbao.showError(byId("job-error"), err); }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    jobId = byId("job").getAttribute("data-job-id");
    byId("row-outcome").addEventListener("change", function (event) {
      rowsState.outcome = event.target.value;
      rowsState.page = 1;
      loadRows();
    });
    byId("rows-prev").addEventListener("click", function () {
      rowsState.page = Math.max(1, rowsState.page - 1);
      loadRows();
    });
    byId("rows-next").addEventListener("click", function () {
      rowsState.page += 1;
      loadRows();
    });
    poll();
  });
})();
