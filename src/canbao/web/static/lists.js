/* 催缴清单 and 入户排查: the benefit year (default from GET /api/v1/benefit-years), the day the door-to-door list
   counts to, and for a county role a township; each button fetches GET /api/v1/lists/due or
   /api/v1/lists/not-renewed and saves the workbook (or the ZIP of one per township).  When nobody is on the
   list the API answers 404 with the reason, which is shown instead of a download. */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function query(withDay) {
    var params = "?benefit_year=" + encodeURIComponent(byId("benefit-year").value);
    if (withDay) {
      params += "&as_of=" + encodeURIComponent(byId("as-of").value);
    }
    var township = byId("township");
    if (township && township.value.trim()) {
      params += "&township=" + encodeURIComponent(township.value.trim());
    }
    return params;
  }

  function fetchList(button, url, what) {
    var error = byId("lists-error");
    var info = byId("lists-info");
    canbao.clearMessage(error);
    canbao.clearMessage(info);
    if (!byId("benefit-year").value) {
      canbao.showError(error, { message: "请选择待遇年度" });
      return;
    }
    button.disabled = true;
    var label = button.textContent;
    button.textContent = "正在生成…";
    canbao.download(url).then(
      function (name) {
        canbao.showInfo(info, "已下载" + what + "：" + name);
      },
      function (err) {
        if (err.status === 404) {
          canbao.showInfo(info, err.message); // nobody on the list: the reason, not a file
        } else {
          canbao.showError(error, err);
        }
      }
    ).then(function () {
      button.disabled = false;
      button.textContent = label;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = byId("benefit-year");
    canbao.api("GET", "/api/v1/benefit-years").then(
      function (data) {
        var years = (data && data.years) || [];
        if (data && data.default && years.indexOf(data.default) < 0) {
          years.unshift(data.default);
        }
        years.forEach(function (y) { select.appendChild(canbao.el("option", { value: String(y), text: y + " 年度" })); });
        if (data && data.default) {
          select.value = String(data.default);
        }
        byId("as-of").value = (data && data.today) || "";
      },
      function (err) { canbao.showError(byId("lists-error"), err); }
    );
    byId("download-due").addEventListener("click", function (event) {
      fetchList(event.target, "/api/v1/lists/due" + query(false), "催缴清单");
    });
    byId("download-not-renewed").addEventListener("click", function (event) {
      if (!byId("as-of").value) {
        canbao.showError(byId("lists-error"), { message: "请选择统计截止日期" });
        return;
      }
      fetchList(event.target, "/api/v1/lists/not-renewed" + query(true), "入户排查名单");
    });
  });
})();
