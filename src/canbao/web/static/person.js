/* A person's page: GET /api/v1/persons/{id} → the person, identities, enrollments, ledger, refunds and the
   audit lines about them.  A county role (county_admin, tax) has a 显示完整身份证号 button: POST
   /api/v1/persons/{id}/id-number (CSRF), which the server audits; every other page shows the masked number.
   Sections and columns are shown in Chinese; a money field (…_fen, integer fen) in yuan with 2 decimals. */
(function () {
  "use strict";

  var LABELS = {
    person_id: "人员编号", name: "姓名", id_number: "身份证号", gender: "性别", sex: "性别", birth_date: "出生日期",
    birthday: "出生日期", county: "县（区）", township: "乡镇（街道）", village: "村（社区）", residency: "户籍类型",
    phone: "联系电话", address: "地址", school: "学校", class_name: "班级", household_role: "家庭角色",
    category: "身份类别", category_label: "身份类别", categories: "身份类别", department: "认定部门",
    department_label: "认定部门", valid_from: "起始日期", valid_to: "截止日期", valid_until: "截止日期",
    source: "来源", list_name: "名单", batch: "导入批次", benefit_year: "待遇年度", policy: "政策",
    policy_id: "政策", status: "状态", status_label: "状态", situation: "参保情形", situation_label: "参保情形",
    benefit_start: "待遇起始", benefit_end: "待遇截止", waiting_months: "等待期（月）", enrolled_on: "参保日期",
    ended_on: "终止日期", end_reason: "终止原因", kind: "类型", kind_label: "类型", channel: "渠道",
    channel_label: "渠道", channel_name: "渠道名称", txn: "交易号", txn_id: "交易号", paid_on: "缴费日期",
    recorded_at: "记账时间", recorded_on: "记账日期", reason: "原因", reason_label: "原因", requested_on: "申请日期",
    refunded_on: "退费日期", actor: "操作人", action: "操作", action_label: "操作", subject: "对象", outcome: "结果",
    outcome_label: "结果", detail: "详情", at: "时间", created_at: "时间", occurred_at: "时间", when: "时间",
    note: "备注", entry_id: "记账编号", refund_id: "退费编号", enrollment_id: "参保编号", subsidy_category: "资助身份",
    subsidy_kind: "资助方式", payer: "付款方", balance_fen: "余额（元）", batch_id: "导入批次",
    channel_txn_id: "交易流水号", collecting_unit: "代收单位", net_personal_fen: "个人负担（元）",
    subsidy_fen: "资助（元）", amount_due_fen: "应缴（元）", amount_fen: "金额（元）",
  };
  // codes the API gives without a label beside them (the audit log's actions and outcomes)
  var VALUES = {
    action: {
      login: "登录", logout: "退出登录", person_view: "查看人员", id_reveal: "查看完整身份证号",
      out_of_area: "访问辖区外记录", user_add: "新增用户", user_disable: "停用用户", user_enable: "启用用户",
      user_password: "重设用户密码", pay: "缴费", refund: "退费",
      enroll: "参保登记",
    },
    outcome: { done: "完成", refused: "拒绝", throttled: "已限制" },
  };
  var SECTIONS = [
    ["identities", "身份认定"],
    ["memberships", "身份认定"],
    ["enrollments", "参保记录"],
    ["payments", "缴费记录"],
    ["ledger", "资金台账"],
    ["refunds", "退费记录"],
    ["audit", "操作日志"],
  ];
  var HIDDEN = { person_id: true };

  function label(key) {
    if (LABELS[key]) {
      return LABELS[key];
    }
    if (/_fen$/.test(key)) {
      var base = key.replace(/_fen$/, "");
      return (LABELS[base] || { amount: "金额", amount_due: "应缴", net_personal: "个人负担", subsidy: "资助" }[base] || base) + "（元）";
    }
    return key;
  }

  function columnsOf(rows) {
    var keys = [];
    rows.forEach(function (row) {
      Object.keys(row).forEach(function (k) {
        if (keys.indexOf(k) < 0 && !HIDDEN[k]) {
          keys.push(k);
        }
      });
    });
    // a labelled column beside its code (kind and kind_label): show the label only
    keys = keys.filter(function (k) { return keys.indexOf(k + "_label") < 0; });
    return keys.map(function (k) {
      var money = /_fen$/.test(k);
      var codes = VALUES[k];
      var format = money ? canbao.yuan : codes ? function (v) { return codes[v] || canbao.show(v); } : undefined;
      var wrap = k === "detail" || k === "note" || k === "reason";
      return { key: k, label: label(k.replace(/_label$/, "")), num: money, wrap: wrap, format: format };
    });
  }

  function facts(person, countyWide, personId) {
    var dl = canbao.el("dl", { className: "facts" });
    Object.keys(person).forEach(function (k) {
      var value = person[k];
      if (HIDDEN[k] || (Array.isArray(value) && value.length && typeof value[0] === "object")) {
        return;
      }
      if (person[k + "_label"] !== undefined) {
        return;
      }
      var dd = canbao.el("dd");
      if (k === "id_number") {
        dd.appendChild(canbao.el("span", { id: "id-number", className: "id-number", text: canbao.show(value) }));
        if (countyWide) {
          dd.appendChild(document.createTextNode(" "));
          dd.appendChild(revealButton(personId));
        }
      } else {
        dd.textContent = /_fen$/.test(k) ? canbao.yuan(value) : canbao.show(value);
      }
      dl.appendChild(canbao.el("dt", { text: label(k.replace(/_label$/, "")) }));
      dl.appendChild(dd);
    });
    return dl;
  }

  function revealButton(personId) {
    var button = canbao.el("button", { type: "button", id: "reveal-id", className: "secondary", text: "显示完整身份证号" });
    button.addEventListener("click", function () {
      button.disabled = true;
      canbao.api("POST", "/api/v1/persons/" + encodeURIComponent(personId) + "/id-number").then(
        function (data) {
          document.getElementById("id-number").textContent = data.id_number;
          button.textContent = "已显示（本次查看已记入操作日志）";
        },
        function (err) {
          button.disabled = false;
          canbao.showError(document.getElementById("person-error"), err);
        }
      );
    });
    return button;
  }

  function render(root, data, countyWide, personId) {
    var person = data.person && typeof data.person === "object" ? data.person : data;
    var title = document.getElementById("person-title");
    if (person.name) {
      title.textContent = "人员详情：" + person.name;
      document.title = person.name + " — 人员详情 — 城乡居民医保参保工作平台";
    }
    var panel = canbao.el("section", { className: "panel", id: "person-facts" }, [
      canbao.el("h2", { text: "基本信息" }),
      facts(person, countyWide, personId),
    ]);
    root.appendChild(panel);
    var shown = {};
    var sections = SECTIONS.slice();
    Object.keys(data).forEach(function (k) {
      if (Array.isArray(data[k]) && !SECTIONS.some(function (s) { return s[0] === k; })) {
        sections.push([k, label(k)]);
      }
    });
    sections.forEach(function (s) {
      var key = s[0];
      var rows = data[key];
      if (!Array.isArray(rows) || shown[s[1]]) {
        return;
      }
      shown[s[1]] = true;
      root.appendChild(canbao.el("section", { className: "panel", id: "section-" + key }, [
        canbao.el("h2", { text: s[1] }),
        canbao.table(columnsOf(rows), rows, { empty: "无" + s[1] }),
      ]));
    });
  }

  /* 退费 (county_admin: GET /api/v1/money/choices lists "refund"): the benefit year, the reason and the day
     it was asked for → POST /api/v1/persons/{id}/refund (CSRF); the policy decides whether anything is paid
     back (the answer's `why`), and the page is read again to show the refund and the ledger. */
  function refundForm(personId, reasons, years, reload) {
    var field = function (id, label, input) {
      return canbao.el("div", { className: "field" }, [canbao.el("label", { for: id, text: label }), input]);
    };
    var year = canbao.el("input", { type: "number", id: "refund-year", min: "2000", max: "2100", step: "1" });
    year.value = years && years.default ? String(years.default) : "";
    var reason = canbao.el("select", { id: "refund-reason" });
    reasons.forEach(function (r) { reason.appendChild(canbao.el("option", { value: r.value, text: r.label })); });
    var day = canbao.el("input", { type: "date", id: "refund-requested-on" });
    day.value = (years && years.today) || "";
    var button = canbao.el("button", { type: "submit", id: "refund-submit", text: "办理退费" });
    var message = canbao.el("p", { className: "message", id: "refund-result" });
    message.hidden = true;
    var form = canbao.el("form", { className: "toolbar", id: "refund-form", novalidate: "novalidate" }, [
      field("refund-year", "待遇年度", year), field("refund-reason", "退费原因", reason),
      field("refund-requested-on", "申请日期", day), button,
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      var body = { benefit_year: Number(year.value), reason: reason.value, requested_on: day.value };
      canbao.api("POST", "/api/v1/persons/" + encodeURIComponent(personId) + "/refund", body).then(
        function (result) {
          button.disabled = false;
          var text = result.refunded
            ? "已退费 " + canbao.yuan(result.amount_fen) + " 元（" + result.reason_label + "），参保关系终止。依据：" + result.why
            : "不予退费（" + result.reason_label + "）：" + result.why;
          reload(text, result.refunded);
        },
        function (err) {
          button.disabled = false;
          canbao.showError(message, err);
        }
      );
    });
    return canbao.el("section", { className: "panel", id: "section-refund-form" }, [
      canbao.el("h2", { text: "办理退费" }),
      canbao.el("p", { className: "hint", text: "按政策可退时退还个人缴费并终止参保关系；同一申请重复提交不会再次退费。" }),
      form, message,
    ]);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("person");
    var personId = root.getAttribute("data-person-id");
    var countyWide = root.getAttribute("data-county-wide") === "true";
    var error = document.getElementById("person-error");
    var extras = countyWide
      ? Promise.all([
        canbao.api("GET", "/api/v1/money/choices").catch(function () { return null; }),
        canbao.api("GET", "/api/v1/benefit-years").catch(function () { return null; }),
      ])
      : Promise.resolve([null, null]);

    function show(notice, good) {
      return canbao.api("GET", "/api/v1/persons/" + encodeURIComponent(personId)).then(
        function (data) {
          canbao.replace(root, null);
          render(root, data || {}, countyWide, personId);
          return extras.then(function (answers) {
            var choices = answers[0];
            var work = (choices && choices.work) || [];
            if (work.some(function (w) { return w.value === "refund"; })) {
              root.appendChild(refundForm(personId, choices.refund_reasons || [], answers[1], show));
              if (notice) {
                var message = document.getElementById("refund-result");
                message.textContent = notice;
                message.className = good ? "message good" : "message info";
                message.hidden = false;
              }
            }
          });
        },
        function (err) {
          if (err.status === 404) {
            document.getElementById("person-title").textContent = "未找到该人员";
          }
          canbao.showError(error, err);
        }
      );
    }
    show(null, false);
  });
})();
