/* 人员查询: GET /api/v1/persons?q= → a table of the caller's area only, each row linking to the person's
   page.  The query is kept in the address (?q=) so that going back shows the same results. */
(function () {
  "use strict";

  var COLUMNS = [
    { key: "name", label: "姓名", link: function (row) { return "/persons/" + encodeURIComponent(row.person_id); } },
    { key: "id_number", label: "身份证号（隐去中间位数）" },
    { key: "township", label: "乡镇（街道）" },
    { key: "village", label: "村（社区）" },
  ];

  function search(q) {
    var results = document.getElementById("results");
    var error = document.getElementById("search-error");
    canbao.clearMessage(error);
    canbao.replace(results, canbao.el("p", { className: "muted", text: "正在查询…" }));
    canbao.api("GET", "/api/v1/persons?q=" + encodeURIComponent(q)).then(
      function (data) {
        var items = (data && data.items) || [];
        var caption = "共 " + items.length + " 人";
        canbao.replace(results, canbao.table(COLUMNS, items, { empty: "本辖区内没有找到符合条件的人员", caption: caption }));
      },
      function (err) {
        canbao.replace(results, null);
        canbao.showError(error, err);
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("search-form");
    var input = document.getElementById("q");
    var initial = new URLSearchParams(window.location.search).get("q") || "";
    input.value = initial;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = input.value.trim();
      if (!q) {
        canbao.showError(document.getElementById("search-error"), { message: "请输入姓名或身份证号" });
        return;
      }
      window.history.replaceState(null, "", "/persons?q=" + encodeURIComponent(q));
      search(q);
    });
    if (initial.trim()) {
      search(initial.trim());
    }
  });
})();
