/* 名单报送: GET /api/v1/submissions gives the kinds of list this account may send, the policies and the
   certifying departments, and the account's own county, department and school; the form asks only for what
   the chosen kind needs and the account does not fix.  POST /api/v1/submissions/{kind} (multipart, CSRF)
   starts the import as a background job; the browser goes on to the job's page. */
(function () {
  "use strict";

  // what each kind needs: policy (required / optional), department, school, benefit year
  var NEEDS = {
    department_list: { policy: "required", department: true, county: true,
      hint: "每行一人一种身份：姓名、身份证号码、身份类别（人员类别），可有认定日期、有效期止、乡镇、村、联系电话。" },
    school_roster: { policy: "optional", school: true, county: true,
      hint: "学生名册：姓名、身份证号码，可有年级、班级。" },
    roster: { policy: "optional", benefitYear: true, county: true,
      hint: "上年度参保名册：姓名、身份证号码，可有县（区）、乡镇、村、户籍类型、联系电话。" },
    targets: { benefitYear: true, hint: "任务分解表：乡镇、乡镇代码、村、村代码、任务数（参保任务和电子凭证任务两张表）。" },
    e_voucher: { hint: "电子凭证激活记录：姓名、身份证号码、激活日期。" },
  };
  var FIELDS = { policy: "field-policy", department: "field-department", school: "field-school",
    benefit_year: "field-benefit-year", county: "field-county", file: "file", kind: "field-kind" };

  function option(value, text) {
    return canbao.el("option", { value: value, text: text });
  }

  function show(id, on) {
    document.getElementById(id).hidden = !on;
  }

  function markField(field) {
    document.querySelectorAll(".field.invalid").forEach(function (n) { n.classList.remove("invalid"); });
    var id = FIELDS[field];
    var node = id && document.getElementById(id);
    if (node) {
      var box = node.classList.contains("field") ? node : node.closest(".field");
      if (box) {
        box.hidden = false;
        box.classList.add("invalid");
        var input = box.querySelector("input, select");
        if (input) {
          input.focus();
        }
      }
    }
  }

  function setUp(choices) {
    var form = document.getElementById("submit-form");
    var kinds = choices.kinds || [];
    if (!kinds.length) {
      canbao.showError(document.getElementById("submit-error"), { message: "此账户不能报送名单（名单由认定部门、学校和县医保局报送）" });
      return;
    }
    var own = choices.own || {};
    var kind = document.getElementById("kind");
    kinds.forEach(function (k) { kind.appendChild(option(k.kind, k.label)); });
    show("field-kind", kinds.length > 1);
    var policy = document.getElementById("policy");
    policy.appendChild(option("", "请选择政策"));
    (choices.policies || []).forEach(function (p) { policy.appendChild(option(p, p)); });
    var department = document.getElementById("department");
    department.appendChild(option("", "请选择"));
    (choices.departments || []).forEach(function (d) { department.appendChild(option(d.department, d.label)); });
    document.getElementById("benefit-year").value = String(new Date().getFullYear());
    if (own.county !== undefined && kinds.some(function (k) { return NEEDS[k.kind] && NEEDS[k.kind].benefitYear; })) {
      canbao.api("GET", "/api/v1/benefit-years").then(function (years) {
        if (years && years.default) {
          document.getElementById("benefit-year").value = String(years.default);
        }
      }, function () { /* the current year stays */ });
    }

    function refresh() {
      var needs = NEEDS[kind.value] || {};
      show("field-policy", !!needs.policy && (needs.policy === "required" || !own.county));
      show("field-department", !!needs.department && !own.department);
      show("field-school", !!needs.school && !own.school);
      show("field-benefit-year", !!needs.benefitYear);
      show("field-county", !!needs.county && !own.county);
      document.getElementById("kind-hint").textContent = needs.hint || "";
    }
    kind.addEventListener("change", refresh);
    refresh();
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(kind.value, own);
    });
  }

  function send(kind, own) {
    var error = document.getElementById("submit-error");
    canbao.clearMessage(error);
    var file = document.getElementById("file");
    if (!file.files || !file.files.length) {
      canbao.showError(error, { message: "请选择名单文件" });
      markField("file");
      return;
    }
    var needs = NEEDS[kind] || {};
    if (needs.policy === "required" && !document.getElementById("policy").value) {
      canbao.showError(error, { message: "请选择按哪个政策认定资助身份" });
      markField("policy");
      return;
    }
    var data = new FormData();
    data.append("file", file.files[0]);
    data.append("accept_valid", document.getElementById("accept-valid").checked ? "true" : "false");
    var policy = document.getElementById("policy").value;
    if (needs.policy && policy) {
      data.append("policy", policy);
    }
    if (needs.department && !own.department) {
      data.append("department", document.getElementById("department").value);
    }
    if (needs.school && !own.school) {
      data.append("school", document.getElementById("school").value.trim());
    }
    if (needs.benefitYear) {
      data.append("benefit_year", document.getElementById("benefit-year").value.trim());
    }
    var county = document.getElementById("county").value.trim();
    if (needs.county && !own.county && county) {
      data.append("county", county);
    }
    var button = document.getElementById("submit");
    button.disabled = true;
    button.textContent = "正在上传…";
    canbao.upload("/api/v1/submissions/" + encodeURIComponent(kind), data).then(
      function (answer) {
        window.location.assign("/jobs/" + encodeURIComponent(answer.job_id));
      },
      function (err) {
        button.disabled = false;
        button.textContent = "上传并校验";
        canbao.showError(error, err);
        if (err.field) {
          markField(err.field);
        }
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    canbao.api("GET", "/api/v1/submissions").then(setUp, function (err) {
      canbao.showError(document.getElementById("submit-error"), err);
    });
  });
})();
