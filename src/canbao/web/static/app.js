/* canbao 工作人员门户: the helpers every page uses.
   - canbao.api(method, url, body): JSON over fetch, with the session's CSRF token (<meta name="csrf-token">)
     in X-CSRF-Token on every state-changing call; a refusal becomes an ApiError with a Chinese message.
   - formatting: rates in basis points (5926 → 59.26%), money in fen (12345 → 123.45 元), counts.
   - canbao.table(columns, rows): a table built with textContent only (data is never parsed as HTML).
   - canbao.upload(url, formData): a multipart POST (files), with the CSRF token, answered as api() does.
   - canbao.download(url): fetch a file and save it under the server's name (Content-Disposition); a refusal
     (e.g. 404 {"detail": "本区域没有…"}) becomes an ApiError instead of a saved error page.
   - canbao.localTime(iso): a stored UTC time as China Standard Time, "YYYY-MM-DD HH:MM".
   Served by canbao itself; no library, nothing loaded from outside. */
(function () {
  "use strict";

  var MESSAGES = {
    400: "请求未被接受",
    401: "请先登录",
    403: "无权进行此操作",
    404: "未找到该记录",
    422: "输入有误",
    429: "尝试次数过多，请稍后再试",
    500: "服务器内部错误，请联系管理员",
  };

  function ApiError(status, message, field) {
    this.name = "ApiError";
    this.status = status;
    this.message = message;
    this.field = field || null;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  function messageFor(status, body) {
    if (body && typeof body.detail === "string" && body.detail) {
      return body.detail;
    }
    if (body && Array.isArray(body.detail)) {
      return MESSAGES[422]; // FastAPI's own validation answer: its words are English
    }
    return MESSAGES[status] || (status >= 500 ? MESSAGES[500] : "请求失败（" + status + "）");
  }

  function api(method, url, body, options) {
    var opts = options || {};
    var headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = csrfToken();
    }
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body; // multipart: the browser writes the Content-Type with its boundary
    } else if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(
      function (response) {
        if (response.status === 204) {
          return null;
        }
        return response.text().then(function (text) {
          var data = null;
          if (text) {
            try {
              data = JSON.parse(text);
            } catch (e) {
              data = null;
            }
          }
          if (response.ok) {
            return data;
          }
          if (response.status === 401 && !opts.noRedirect) {
            goToLogin();
          }
          throw new ApiError(response.status, messageFor(response.status, data), data && data.field);
        });
      },
      function () {
        throw new ApiError(0, "无法连接服务器，请检查网络后重试");
      }
    );
  }

  function upload(url, formData) {
    return api("POST", url, formData);
  }

  function fileName(response, fallback) {
    var disposition = response.headers.get("Content-Disposition") || "";
    var star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
    if (star) {
      try {
        return decodeURIComponent(star[1]);
      } catch (e) {
        return fallback;
      }
    }
    var plain = /filename="?([^";]+)"?/i.exec(disposition);
    return plain ? plain[1] : fallback;
  }

  function download(url, fallbackName) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json, */*" } }).then(
      function (response) {
        if (!response.ok) {
          return response.text().then(function (text) {
            var data = null;
            try {
              data = text ? JSON.parse(text) : null;
            } catch (e) {
              data = null;
            }
            if (response.status === 401) {
              goToLogin();
            }
            throw new ApiError(response.status, messageFor(response.status, data), data && data.field);
          });
        }
        var name = fileName(response, fallbackName || "download");
        return response.blob().then(function (blob) {
          var href = URL.createObjectURL(blob);
          var a = el("a", { href: href, download: name });
          a.hidden = true;
          document.body.appendChild(a);
          a.click();
          document.body.removeChild(a);
          window.setTimeout(function () { URL.revokeObjectURL(href); }, 60000);
          return name;
        });
      },
      function () {
        throw new ApiError(0, "无法连接服务器，请检查网络后重试");
      }
    );
  }

  function localTime(iso) {
    if (!iso) {
      return "—";
    }
    var text = String(iso);
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(text)) {
      text += "Z"; // stored UTC without its offset (SQLite)
    }
    var t = new Date(text);
    if (isNaN(t.getTime())) {
      return String(iso);
    }
    var cst = new Date(t.getTime() + 8 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return cst.getUTCFullYear() + "-" + two(cst.getUTCMonth() + 1) + "-" + two(cst.getUTCDate()) + " " +
      two(cst.getUTCHours()) + ":" + two(cst.getUTCMinutes());
  }

  function goToLogin() {
    var here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here));
  }

  /* ------------------------------------------------------------------ formatting (integers only) */

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function hundredths(n) {
    // an integer n as n/100 with two decimals, without floating point: 5926 → "59.26", -5 → "-0.05"
    var sign = n < 0 ? "-" : "";
    var a = Math.abs(Math.round(n));
    var whole = Math.floor(a / 100);
    var cents = a % 100;
    return sign + thousands(whole) + "." + (cents < 10 ? "0" : "") + cents;
  }

  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function count(n) {
    return isNum(n) ? (n < 0 ? "-" : "") + thousands(Math.abs(n)) : "—";
  }

  function rate(bp) {
    return isNum(bp) ? hundredths(bp) + "%" : "—";
  }

  function rateChange(bp) {
    if (!isNum(bp)) {
      return "—";
    }
    return (bp > 0 ? "+" : "") + hundredths(bp) + " 个百分点";
  }

  function signed(n) {
    return isNum(n) ? (n > 0 ? "+" : "") + count(n) : "—";
  }

  function yuan(fen) {
    return isNum(fen) ? hundredths(fen) : "—";
  }

  /* ------------------------------------------------------------------ DOM */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") {
          node.textContent = attrs[k];
        } else if (k === "className") {
          node.className = attrs[k];
        } else {
          node.setAttribute(k, attrs[k]);
        }
      });
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  /* columns: [{key, label, format?: (value, row) => string, num?: bool, wrap?: bool, link?: (row) => href}] */
  function table(columns, rows, options) {
    var opts = options || {};
    if (!rows || rows.length === 0) {
      return el("p", { className: "empty", text: opts.empty || "没有记录" });
    }
    var head = el("tr", null, columns.map(function (c) {
      return el("th", { className: c.num ? "num" : "", text: c.label });
    }));
    var body = rows.map(function (row) {
      return el("tr", null, columns.map(function (c) {
        var value = row[c.key];
        var text = c.format ? c.format(value, row) : show(value);
        var cell = el("td", { className: c.num ? "num" : c.wrap ? "wrap" : "" });
        if (c.link) {
          cell.appendChild(el("a", { href: c.link(row), text: text }));
        } else {
          cell.textContent = text;
        }
        return cell;
      }));
    });
    var t = el("table", { className: "data" }, [el("thead", null, [head]), el("tbody", null, body)]);
    if (opts.caption) {
      t.appendChild(el("caption", { text: opts.caption }));
    }
    return el("div", { className: "table-wrap" }, [t]);
  }

  function show(value) {
    if (value === null || value === undefined || value === "") {
      return "—";
    }
    if (value === true) {
      return "是";
    }
    if (value === false) {
      return "否";
    }
    if (Array.isArray(value)) {
      return value.length ? value.map(show).join("、") : "—";
    }
    if (typeof value === "object") {
      return Object.keys(value).map(function (k) { return k + "：" + show(value[k]); }).join("；");
    }
    return String(value);
  }

  function replace(node, child) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    if (child) {
      node.appendChild(child);
    }
  }

  function showError(node, err) {
    node.textContent = err && err.message ? err.message : "请求失败";
    node.className = "message error";
    node.hidden = false;
  }

  function showInfo(node, text) {
    node.textContent = text;
    node.className = "message info";
    node.hidden = !text;
  }

  function clearMessage(node) {
    node.textContent = "";
    node.hidden = true;
  }

  /* ------------------------------------------------------------------ logout (every signed-in page) */

  function wireLogout() {
    var button = document.getElementById("logout");
    if (!button) {
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      api("POST", "/api/v1/logout", null, { noRedirect: true }).then(
        function () { window.location.assign("/login"); },
        function (err) {
          if (err.status === 401) {
            window.location.assign("/login"); // the session had already ended
            return;
          }
          button.disabled = false;
          window.alert("退出失败：" + err.message);
        }
      );
    });
  }

  document.addEventListener("DOMContentLoaded", wireLogout);

  window.canbao = {
    ApiError: ApiError,
    api: api,
    upload: upload,
    download: download,
    localTime: localTime,
    csrfToken: csrfToken,
    goToLogin: goToLogin,
    count: count,
    rate: rate,
    rateChange: rateChange,
    signed: signed,
    yuan: yuan,
    show: show,
    el: el,
    table: table,
    replace: replace,
    showError: showError,
    showInfo: showInfo,
    clearMessage: clearMessage,
  };
})();
