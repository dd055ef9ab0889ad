/* What 资金核算, 考核奖惩, 清理 and 先缴后补退补 share: the benefit-year select (GET /api/v1/benefit-years; its
   default chosen), a table of money columns (…_fen, integer fen) shown in yuan, and the report page. */
(function () {
  "use strict";

  function years(select, errorNode) {
    return canbao.api("GET", "/api/v1/benefit-years").then(
      function (data) {
        var list = ((data && data.years) || []).slice();
        if (data && data.default && list.indexOf(data.default) < 0) {
          list.unshift(data.default);
        }
        list.forEach(function (y) { select.appendChild(canbao.el("option", { value: String(y), text: y + " 年度" })); });
        if (data && data.default) {
          select.value = String(data.default);
        }
        return data;
      },
      function (err) { canbao.showError(errorNode, err); return null; }
    );
  }

  /* columns: [[key, label], …]; a key ending in _fen is money (yuan, right-aligned), a number a count */
  function moneyTable(columns, rows, options) {
    return canbao.table(columns.map(function (c) {
      var key = c[0];
      if (/_fen$/.test(key)) {
        return { key: key, label: c[1], num: true, format: canbao.yuan };
      }
      return { key: key, label: c[1], num: !!c[2], format: c[2] ? canbao.count : undefined };
    }), rows, options);
  }

  function section(id, title, body) {
    return canbao.el("section", { className: "panel", id: id }, [canbao.el("h2", { text: title }), body]);
  }

  /* the policies of the chosen year (GET /api/v1/submissions), first "自动" (the year's only policy of the
     account's county); refilled when the year changes */
  function policies(select, yearSelect) {
    return canbao.api("GET", "/api/v1/submissions").then(function (data) {
      var all = (data && data.policies) || [];
      var count = 0;
      function fill() {
        var kept = select.value;
        canbao.replace(select, canbao.el("option", { value: "", text: "自动（本年度唯一的政策）" }));
        var ofYear = all.filter(function (p) { return p.slice(-5) === "/" + yearSelect.value; });
        ofYear.forEach(function (p) { select.appendChild(canbao.el("option", { value: p, text: p })); });
        count = ofYear.length;
        select.value = kept && select.querySelector('option[value="' + kept.replace(/"/g, "") + '"]') ? kept : "";
      }
      yearSelect.addEventListener("change", fill);
      fill();
      return count; // how many policies the year has: with several, the page waits for the user's choice
    }, function () { return 0; });
  }

  function query(yearSelect, policySelect) {
    var q = "?benefit_year=" + encodeURIComponent(yearSelect.value);
    if (policySelect && policySelect.value) {
      q += "&policy=" + encodeURIComponent(policySelect.value);
    }
    return q;
  }

  /* 资金核算 and 考核奖惩 are one page: a benefit year (and a policy) → GET <api> → render(data); 下载 saves
     GET <api>/workbook. The page's elements: <name>-form, -error, -info, -workbook, and benefit-year, policy;
     `emptied`: what is cleared when the figures cannot be had. */
  function reportPage(name, api, render, emptied) {
    function byId(id) {
      return document.getElementById(id);
    }

    function load() {
      var error = byId(name + "-error");
      canbao.clearMessage(error);
      canbao.clearMessage(byId(name + "-info"));
      if (!byId("benefit-year").value) {
        canbao.showError(error, { message: "请选择待遇年度" });
        return;
      }
      canbao.api("GET", api + query(byId("benefit-year"), byId("policy"))).then(render, function (err) {
        emptied.forEach(function (id) { canbao.replace(byId(id), null); });
        canbao.showError(error, err);
      });
    }

    document.addEventListener("DOMContentLoaded", function () {
      years(byId("benefit-year"), byId(name + "-error")).then(function (data) {
        return policies(byId("policy"), byId("benefit-year")).then(function (count) {
          if (data && data.default && count <= 1) {
            load();
          }
        });
      });
      byId(name + "-form").addEventListener("submit", function (event) {
        event.preventDefault();
        load();
      });
      byId(name + "-workbook").addEventListener("click", function () {
        canbao.download(api + "/workbook" + query(byId("benefit-year"), byId("policy"))).then(
          function (file) { canbao.showInfo(byId(name + "-info"), "已下载：" + file); },
          function (err) { canbao.showError(byId(name + "-error"), err); }
        );
      });
    });
  }

  window.canbaoMoney = {
    years: years, policies: policies, query: query, moneyTable: moneyTable, section: section, reportPage: reportPage,
  };
})();
