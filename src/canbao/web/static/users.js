/* 用户管理 (county_admin): GET /api/v1/users → the accounts, each with 停用 (POST /api/v1/users/{u}/disable,
   CSRF; asked twice: the button becomes 确认停用) or 启用 (…/enable), and 重设密码 (a field for the new one, then
   POST …/password); the form adds an account (POST /api/v1/users, CSRF) with the area fields its role needs.
   Any other role gets the API's refusal (403), shown on the page. */
(function () {
  "use strict";

  var ROLES = [
    ["township", "乡镇（街道）"], ["village", "村（社区）"], ["school", "学校"], ["department", "认定部门"],
    ["tax", "县税务局"], ["county_admin", "县医保局"],
  ];
  var AREAS = { county_admin: [], tax: [], township: ["township"], village: ["township", "village"],
    school: ["school"], department: ["department"] };
  var DEPARTMENTS = [
    ["civil_affairs", "民政局"], ["rural_revitalization", "乡村振兴局（农业农村局）"], ["health_commission", "卫生健康委"],
    ["veterans_affairs", "退役军人事务局"], ["disabled_federation", "残联"],
  ];

  function byId(id) {
    return document.getElementById(id);
  }

  function post(user, what, body, done, button) {
    button.disabled = true;
    canbao.clearMessage(byId("users-error"));
    canbao.api("POST", "/api/v1/users/" + encodeURIComponent(user.username) + "/" + what, body).then(
      function () {
        canbao.showInfo(byId("users-info"), done);
        load();
      },
      function (err) {
        button.disabled = false;
        canbao.showError(byId("users-error"), err);
      }
    );
  }

  function enableButton(user) {
    var button = canbao.el("button", { type: "button", className: "secondary", text: "启用" });
    button.setAttribute("data-enable", user.username);
    button.addEventListener("click", function () {
      post(user, "enable", undefined, "已启用用户 " + user.username + "（用原密码登录）", button);
    });
    return button;
  }

  function passwordForm(user) {
    var form = canbao.el("form", { className: "inline" });
    form.setAttribute("data-password", user.username);
    var field = canbao.el("input", { type: "password" });
    field.setAttribute("autocomplete", "new-password");
    field.setAttribute("aria-label", user.username + " 的新密码（至少 10 个字符）");
    field.placeholder = "新密码";
    field.hidden = true;
    var button = canbao.el("button", { type: "submit", className: "secondary", text: "重设密码" });
    form.appendChild(field);
    form.appendChild(button);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (field.hidden) {  // the first press shows the field
        field.hidden = false;
        button.textContent = "确认重设";
        field.focus();
        return;
      }
      post(user, "password", { password: field.value },
        "已重设用户 " + user.username + " 的密码（其会话同时结束），请把新密码当面或电话告知本人", button);
    });
    return form;
  }

  function disableButton(user) {
    if (user.disabled) {
      var both = document.createDocumentFragment();
      both.appendChild(canbao.el("span", { className: "muted", text: "已停用 " }));
      both.appendChild(enableButton(user));
      return both;
    }
    var button = canbao.el("button", { type: "button", className: "secondary", text: "停用" });
    button.setAttribute("data-username", user.username);
    var armed = false;
    button.addEventListener("click", function () {
      if (!armed) {
        armed = true;
        button.textContent = "确认停用";
        return;
      }
      post(user, "disable", undefined, "已停用用户 " + user.username + "（其会话同时结束）", button);
    });
    return button;
  }

  var COLUMNS = [
    { key: "username", label: "用户名" },
    { key: "role_label", label: "角色" },
    { key: "area", label: "区域" },
    { key: "created_at", label: "创建时间" },
    { key: "created_by", label: "创建人" },
    { key: "disabled_at", label: "停用时间" },
  ];

  function load() {
    return canbao.api("GET", "/api/v1/users").then(
      function (data) {
        byId("users-body").hidden = false;
        var items = (data && data.items) || [];
        var table = canbao.table(COLUMNS.concat([{ key: "actions", label: "操作" }]), items, { empty: "没有用户" });
        var rows = table.querySelectorAll("tbody tr");
        items.forEach(function (user, i) {
          var cell = rows[i].lastChild;
          cell.textContent = "";
          cell.appendChild(disableButton(user));
          cell.appendChild(passwordForm(user));
          rows[i].setAttribute("data-username", user.username);
        });
        canbao.replace(byId("users"), table);
      },
      function (err) {
        byId("users-body").hidden = true;
        canbao.showError(byId("users-error"), err);
      }
    );
  }

  function roleChanged() {
    var role = byId("new-role").value;
    var wanted = AREAS[role] || [];
    document.querySelectorAll("[data-area]").forEach(function (box) {
      var area = box.getAttribute("data-area");
      box.hidden = area !== "county" && wanted.indexOf(area) < 0;
    });
  }

  function add(event) {
    event.preventDefault();
    var error = byId("users-error");
    canbao.clearMessage(error);
    canbao.clearMessage(byId("users-info"));
    var role = byId("new-role").value;
    var body = {
      username: byId("new-username").value.trim(),
      role: role,
      password: byId("new-password").value,
    };
    var county = byId("new-county").value.trim();
    if (county) {
      body.county = county;
    }
    (AREAS[role] || []).forEach(function (area) {
      var value = byId("new-" + area).value.trim();
      if (value) {
        body[area] = value;
      }
    });
    var button = byId("add-user");
    button.disabled = true;
    canbao.api("POST", "/api/v1/users", body).then(
      function (added) {
        button.disabled = false;
        byId("user-form").reset();
        roleChanged();
        canbao.showInfo(byId("users-info"), "已添加用户 " + added.username + "（" + canbao.show(added.area) + "）");
        load();
      },
      function (err) {
        button.disabled = false;
        canbao.showError(error, err);
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    var role = byId("new-role");
    ROLES.forEach(function (r) { role.appendChild(canbao.el("option", { value: r[0], text: r[1] })); });
    var department = byId("new-department");
    DEPARTMENTS.forEach(function (d) { department.appendChild(canbao.el("option", { value: d[0], text: d[1] })); });
    role.addEventListener("change", roleChanged);
    roleChanged();
    byId("user-form").addEventListener("submit", add);
    load();
  });
})();
