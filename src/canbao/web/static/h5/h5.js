/* The residents' pages: what every page shares (no framework, no external asset).
   The name and ID number go in the body of a POST, never in an address; nothing is kept after the tab closes
   but an order's status token (sessionStorage, this tab only). */
"use strict";
const h5 = (() => {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function yuan(value) {
    if (value === null || value === undefined) return "—";
    return `${Number(value).toFixed(2)} 元`;
  }

  const ID_PATTERN = /^[0-9]{17}[0-9X]$/;

  function normaliseId(text) {
    return (text || "").trim().toUpperCase().replace(/\s+/g, "");
  }

  /* The name and ID number of a form, checked before anything is sent; null (with the message shown) when wrong. */
  function identity(nameInput, idInput, errorNode) {
    const name = (nameInput.value || "").trim();
    const id_number = normaliseId(idInput.value);
    idInput.value = id_number;
    if (!name) return fail(errorNode, "请填写姓名"), null;
    if (!ID_PATTERN.test(id_number)) return fail(errorNode, "身份证号码应为18位（前17位数字，末位数字或X）"), null;
    hide(errorNode);
    return { name, id_number };
  }

  function fail(node, message) {
    if (!node) return;
    node.textContent = message;
    node.hidden = false;
  }

  function hide(node) {
    if (node) node.hidden = true;
  }

  /* A JSON POST (or GET when body is undefined); resolves {ok, status, data}, never rejects: a network failure
     is an answer in words. */
  async function call(method, path, body, headers) {
    try {
      const response = await fetch(path, {
        method,
        headers: Object.assign({ Accept: "application/json" }, body === undefined ? {} : { "Content-Type": "application/json" }, headers || {}),
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
      const type = response.headers.get("content-type") || "";
      const data = type.includes("json") ? await response.json() : null;
      return { ok: response.ok, status: response.status, data, response };
    } catch (error) {
      return { ok: false, status: 0, data: { detail: "网络连接失败，请检查网络后重试" } };
    }
  }

  function problem(answer) {
    if (answer.status === 429) {
      const after = answer.response && answer.response.headers.get("Retry-After");
      const minutes = after ? Math.max(1, Math.ceil(Number(after) / 60)) : null;
      return `${(answer.data && answer.data.detail) || "尝试次数过多"}${minutes ? `（约 ${minutes} 分钟后可再试）` : ""}`;
    }
    if (answer.data && typeof answer.data.detail === "string") return answer.data.detail;
    if (answer.status >= 500) return "系统繁忙，请稍后重试";
    return "请求未成功，请稍后重试";
  }

  function busy(button, on, words) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = words || "请稍候…";
      button.disabled = true;
    } else {
      button.textContent = button.dataset.label || button.textContent;
      button.disabled = false;
    }
  }

  function row(label, value) {
    return [el("dt", { text: label }), el("dd", { text: value })];
  }

  /* WeChat's browser (its user agent), or a page with WeixinJSBridge (the demo simulator's stand-in). */
  function inWeChat() {
    return /MicroMessenger/i.test(navigator.userAgent) || Boolean(window.WeixinJSBridge);
  }

  /* 32 hex digits: WeChat 网页授权's state, checked when the browser comes back. */
  function nonce() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* An order's pay step (POST /api/v1/orders/{no}/pay); for WeChat Pay with a fresh 网页授权 state, kept in the tab
     and checked when the browser comes back to /h5/wxpay/{no}. */
  function startPayStep(no, token, wechat) {
    const body = {};
    if (wechat) {
      body.state = nonce();
      sessionStorage.setItem(`h5:wxstate:${no}`, body.state);
    }
    return call("POST", `/api/v1/orders/${encodeURIComponent(no)}/pay`, body, { "X-Order-Token": token });
  }

  return {
    el, yuan, identity, call, problem, fail, hide, busy, row, normaliseId, ID_PATTERN, inWeChat, startPayStep,
  };
})();
