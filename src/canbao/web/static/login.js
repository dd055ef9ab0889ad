/* 登录: posts {"username","password"} as JSON to /api/v1/login; on 200 goes to ?next= (a path of this
   portal only) or the 工作台; a refusal (401 wrong name or password, 429 too many attempts) is shown. */
(function () {
  "use strict";

  function nextPath() {
    // the server's choice (deps.safe_next), checked once more here
    var next = document.getElementById("login-form").getAttribute("data-next") || "/";
    // only a path of this portal: never another host ("//evil", "https://…", "/\evil")
    if (next.charAt(0) !== "/" || next.charAt(1) === "/" || next.charAt(1) === "\\" || next.indexOf("/login") === 0) {
      return "/";
    }
    return next;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("login-form");
    var error = document.getElementById("login-error");
    var submit = document.getElementById("login-submit");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      canbao.clearMessage(error);
      var username = document.getElementById("username").value.trim();
      var password = document.getElementById("password").value;
      if (!username || !password) {
        canbao.showError(error, { message: "请输入用户名和密码" });
        return;
      }
      submit.disabled = true;
      submit.textContent = "正在登录…";
      canbao.api("POST", "/api/v1/login", { username: username, password: password }, { noRedirect: true }).then(
        function () {
          window.location.assign(nextPath());
        },
        function (err) {
          if (err.status === 401 && err.message === "请先登录") {
            err.message = "用户名或密码错误";
          }
          canbao.showError(error, err);
          submit.disabled = false;
          submit.textContent = "登录";
          document.getElementById("password").value = "";
          document.getElementById("password").focus();
        }
      );
    });
  });
})();
