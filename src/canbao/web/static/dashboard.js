/* 工作台: the caller's area against its targets.  The benefit year and the as-of date default from
   GET /api/v1/benefit-years; GET /api/v1/progress gives rows for the area and the levels below it (county,
   township, village; rates in basis points).  Cards for the area itself, ranked tables for the levels below,
   and an ECharts bar chart of completion rates per township (a township's user: per village). */
(function () {
  "use strict";

  var LEVELS = ["county", "township", "village"];
  var LEVEL_LABELS = { county: "全县", township: "乡镇（街道）", village: "村（社区）" };
  var chart = null;

  function byRank(a, b) {
    var ra = typeof a.rank === "number" ? a.rank : 1e9;
    var rb = typeof b.rank === "number" ? b.rank : 1e9;
    return ra - rb || String(a.township || "").localeCompare(String(b.township || ""), "zh-CN") ||
      String(a.village || "").localeCompare(String(b.village || ""), "zh-CN");
  }

  function placeName(row) {
    if (row.level === "county") {
      return "全县";
    }
    if (row.level === "township") {
      return row.township || "（未填乡镇）";
    }
    return row.village || "（未填村）";
  }

  function card(labelText, value, detail, id, trend) {
    var children = [
      canbao.el("div", { className: "label", text: labelText }),
      canbao.el("div", { className: "value", text: value }),
    ];
    if (detail) {
      children.push(canbao.el("div", { className: "detail" + (trend ? " " + trend : ""), text: detail }));
    }
    return canbao.el("div", { className: "card", id: id }, children);
  }

  function trend(n) {
    return typeof n === "number" ? (n > 0 ? "up" : n < 0 ? "down" : "") : "";
  }

  function summary(row) {
    var where = row.level === "county" ? "全县" : row.level === "township" ? row.township : (row.township || "") + " " + (row.village || "");
    return [
      card(where + " 参保完成率", canbao.rate(row.enrollment_rate_bp),
        "已参保 " + canbao.count(row.enrolled) + " / 任务 " + canbao.count(row.enrollment_target) + " 人", "card-rate"),
      card("较上周", canbao.rateChange(row.enrollment_rate_change_bp),
        "本周新增 " + canbao.signed(row.enrolled_this_week) + " 人（上周末 " + canbao.count(row.enrolled_last_week) + " 人）",
        "card-week", trend(row.enrollment_rate_change_bp)),
      card("上年续保率", canbao.rate(row.renewal_rate_bp),
        "已续保 " + canbao.count(row.renewed) + " / 上年参保 " + canbao.count(row.last_year) + " 人", "card-renewal"),
      card("医保电子凭证激活率", canbao.rate(row.e_voucher_rate_bp),
        "已激活 " + canbao.count(row.activated) + " / 任务 " + canbao.count(row.e_voucher_target) + " 人", "card-evoucher"),
    ];
  }

  function columns(level) {
    var cols = [{ key: "rank", label: "排名", num: true, format: canbao.count }];
    cols.push({ key: "township", label: "乡镇（街道）", format: function (v) { return v || "（未填乡镇）"; } });
    if (level === "village") {
      cols.push({ key: "village", label: "村（社区）", format: function (v) { return v || "（未填村）"; } });
    }
    return cols.concat([
      { key: "enrollment_target", label: "参保任务", num: true, format: canbao.count },
      { key: "enrolled", label: "已参保", num: true, format: canbao.count },
      { key: "enrollment_rate_bp", label: "完成率", num: true, format: canbao.rate },
      { key: "enrollment_rate_change_bp", label: "较上周", num: true, format: canbao.rateChange },
      { key: "enrolled_this_week", label: "本周新增", num: true, format: canbao.signed },
      { key: "last_year", label: "上年参保", num: true, format: canbao.count },
      { key: "renewed", label: "已续保", num: true, format: canbao.count },
      { key: "renewal_rate_bp", label: "续保率", num: true, format: canbao.rate },
      { key: "e_voucher_target", label: "电子凭证任务", num: true, format: canbao.count },
      { key: "activated", label: "已激活", num: true, format: canbao.count },
      { key: "e_voucher_rate_bp", label: "激活率", num: true, format: canbao.rate },
    ]);
  }

  function drawChart(rows, level) {
    var panel = document.getElementById("chart-panel");
    var node = document.getElementById("chart");
    if (!rows.length || typeof window.echarts === "undefined") {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    document.getElementById("chart-title").textContent = "各" + LEVEL_LABELS[level] + "参保完成率";
    if (chart === null) {
      chart = window.echarts.init(node, null, { renderer: "canvas" });
      window.addEventListener("resize", function () { chart.resize(); });
    }
    var names = rows.map(placeName);
    var values = rows.map(function (r) { return typeof r.enrollment_rate_bp === "number" ? r.enrollment_rate_bp / 100 : null; });
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: window.getComputedStyle(document.body).fontFamily },
      grid: { left: 56, right: 24, top: 24, bottom: names.length > 12 ? 96 : 48 },
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          var row = rows[items[0].dataIndex];
          return placeName(row) + "<br>完成率 " + canbao.rate(row.enrollment_rate_bp) + "<br>已参保 " +
            canbao.count(row.enrolled) + " / 任务 " + canbao.count(row.enrollment_target);
        },
      },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 12 ? 45 : 0 } },
      yAxis: { type: "value", name: "完成率（%）", axisLabel: { formatter: "{value}%" } },
      series: [{ type: "bar", name: "完成率", data: values, itemStyle: { color: "#1f6f5c" },
                 label: { show: names.length <= 20, position: "top", formatter: function (p) {
                   return canbao.rate(rows[p.dataIndex].enrollment_rate_bp);
                 } } }],
    }, true);
    node.setAttribute("data-bars", String(rows.length));
  }

  function render(data) {
    var rows = (data && data.rows) || [];
    var info = document.getElementById("dashboard-info");
    var summaryNode = document.getElementById("summary");
    document.getElementById("period").textContent = data.week_before
      ? data.benefit_year + " 年度，截至 " + data.as_of + "，与 " + data.week_before + " 相比"
      : "";
    var present = LEVELS.filter(function (l) { return rows.some(function (r) { return r.level === l; }); });
    if (!present.length) {
      canbao.replace(summaryNode, null);
      canbao.showInfo(info, "本辖区在该年度尚无任务数或参保数据");
      document.getElementById("chart-panel").hidden = true;
      document.getElementById("townships-section").hidden = true;
      document.getElementById("villages-section").hidden = true;
      return;
    }
    canbao.clearMessage(info);
    var top = rows.filter(function (r) { return r.level === present[0]; })[0];
    canbao.replace(summaryNode, null);
    summary(top).forEach(function (c) { summaryNode.appendChild(c); });
    ["township", "village"].forEach(function (level) {
      var section = document.getElementById(level + "s-section");
      var mine = rows.filter(function (r) { return r.level === level; }).sort(byRank);
      var shown = mine.length && present[0] !== level;
      section.hidden = !shown;
      if (shown && level === "township") {
        canbao.replace(document.getElementById("townships"), canbao.table(columns(level), mine));
      } else if (shown) {
        villages.rows = mine;
        villages.all = false;
        villageFilter(rows, present[0] === "county");
        drawVillages();
      }
    });
    var below = present.length > 1 ? present[1] : present[0];
    drawChart(rows.filter(function (r) { return r.level === below; }).sort(byRank), below);
  }

  /* A county has hundreds of villages: the table shows one township's (or the first VILLAGE_ROWS) at a time. */
  var VILLAGE_ROWS = 50;
  var villages = { rows: [], all: false };

  function villageFilter(rows, countyWide) {
    var filter = document.getElementById("village-filter");
    var select = document.getElementById("village-township");
    filter.hidden = !countyWide;
    if (!countyWide) {
      return;
    }
    var chosen = select.value;
    while (select.options.length > 1) {
      select.remove(1);
    }
    rows.filter(function (r) { return r.level === "township"; }).sort(byRank).forEach(function (r) {
      select.appendChild(canbao.el("option", { value: r.township || "", text: r.township || "（未填乡镇）" }));
    });
    select.value = chosen;
    if (select.value !== chosen) {
      select.value = "";
    }
  }

  function drawVillages() {
    var township = document.getElementById("village-filter").hidden ? "" : document.getElementById("village-township").value;
    var mine = villages.rows.filter(function (r) { return !township || (r.township || "") === township; });
    var more = document.getElementById("more-villages");
    var cut = villages.all ? mine : mine.slice(0, VILLAGE_ROWS);
    more.hidden = cut.length === mine.length;
    more.textContent = "显示全部 " + canbao.count(mine.length) + " 个村（社区）";
    var caption = cut.length < mine.length ? "前 " + cut.length + " 个，共 " + canbao.count(mine.length) + " 个" : "共 " + canbao.count(mine.length) + " 个";
    canbao.replace(document.getElementById("villages"), canbao.table(columns("village"), cut, { caption: caption }));
  }

  function load() {
    var year = document.getElementById("benefit-year").value;
    var asOf = document.getElementById("as-of").value;
    var error = document.getElementById("dashboard-error");
    canbao.clearMessage(error);
    if (!year || !asOf) {
      return;
    }
    window.history.replaceState(null, "", "/?benefit_year=" + encodeURIComponent(year) + "&as_of=" + encodeURIComponent(asOf));
    var button = document.getElementById("refresh");
    button.disabled = true;
    canbao.api("GET", "/api/v1/progress?benefit_year=" + encodeURIComponent(year) + "&as_of=" + encodeURIComponent(asOf)).then(
      function (data) { button.disabled = false; render(data || {}); },
      function (err) { button.disabled = false; canbao.showError(error, err); }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("benefit-year");
    var asOf = document.getElementById("as-of");
    var asked = new URLSearchParams(window.location.search);
    canbao.api("GET", "/api/v1/benefit-years").then(
      function (data) {
        var years = (data && data.years) || [];
        var wanted = asked.get("benefit_year") || (data.default !== null && data.default !== undefined ? String(data.default) : "");
        if (wanted && years.map(String).indexOf(wanted) < 0) {
          years = [Number(wanted)].concat(years);
        }
        years.forEach(function (y) {
          select.appendChild(canbao.el("option", { value: String(y), text: y + " 年度" }));
        });
        if (!years.length) {
          canbao.showInfo(document.getElementById("dashboard-info"), "尚无任何年度的任务数或参保数据");
          return;
        }
        select.value = wanted || String(years[0]);
        asOf.value = asked.get("as_of") || data.today || "";
        load();
      },
      function (err) { canbao.showError(document.getElementById("dashboard-error"), err); }
    );
    document.getElementById("refresh").addEventListener("click", load);
    document.getElementById("village-township").addEventListener("change", function () {
      villages.all = false;
      drawVillages();
    });
    document.getElementById("more-villages").addEventListener("click", function () {
      villages.all = true;
      drawVillages();
    });
    select.addEventListener("change", load);
    asOf.addEventListener("change", load);
  });
})();
