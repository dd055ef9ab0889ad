# ruff: noqa: E501
"""The stand-in WeixinJSBridge script the simulator serves at /jsbridge.js (kept as text here, so that it ships
with the package like the rest of the simulator)."""

SCRIPT = r""""use strict";
/* The simulator's stand-in for WeChat's WeixinJSBridge (canbao's pages load it only with `serve --simulator`):
   invoke("getBrandWCPayRequest", params, cb) has the simulator check paySign and the prepay_id, shows its
   cashier over the page, and on 确认支付 pays (the notification goes to canbao) and calls back
   {err_msg: "get_brand_wcpay_request:ok"}; 取消: ":cancel"; a refused request: ":fail". */
(() => {
  const base = document.currentScript.src.replace(/jsbridge\.js(\?.*)?$/, "");
  async function post(path, params) {
    try {
      const r = await fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(params), cache: "no-store" });
      return await r.json();
    } catch (e) {
      return { ok: false, err_msg: "get_brand_wcpay_request:fail", words: "网络错误" };
    }
  }
  function node(tag, style, text) {
    const n = document.createElement(tag);
    n.style.cssText = style;
    if (text) n.textContent = text;
    return n;
  }
  function cashier(found, params, cb) {
    const veil = node("div", "position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:9999;display:flex;align-items:flex-end");
    veil.id = "wx-sim-cashier";
    const sheet = node("div", "background:#fff;width:100%;padding:1rem 1rem 2rem;font-family:sans-serif;box-sizing:border-box");
    const pay = node("button", "width:100%;padding:.8rem;font-size:1.1rem;background:#07c160;color:#fff;border:0", "确认支付");
    pay.id = "wx-sim-pay";
    const cancel = node("button", "width:100%;padding:.6rem;margin-top:.5rem;background:none;border:0", "取消");
    cancel.id = "wx-sim-cancel";
    sheet.append(node("p", "margin:0;color:#888", "微信支付 · 模拟收银台"), node("p", "", found.description),
      node("p", "font-size:2rem;margin:.5rem 0", `¥${found.yuan}`), pay, cancel,
      node("p", "color:#888;font-size:.8rem", "演示用：不发生真实扣款"));
    veil.append(sheet);
    document.body.append(veil);
    pay.addEventListener("click", async () => {
      pay.disabled = true;
      const done = await post("jsbridge/pay", params);
      veil.remove();
      cb({ err_msg: done.err_msg || "get_brand_wcpay_request:fail", err_desc: done.words });
    });
    cancel.addEventListener("click", () => { veil.remove(); cb({ err_msg: "get_brand_wcpay_request:cancel" }); });
  }
  window.WeixinJSBridge = {
    simulated: true,
    invoke(name, params, cb) {
      if (name !== "getBrandWCPayRequest") return cb({ err_msg: `${name}:fail` });
      post("jsbridge/check", params).then((found) => {
        if (!found.ok) return cb({ err_msg: found.err_msg || "get_brand_wcpay_request:fail", err_desc: found.words });
        cashier(found, params, cb);
      });
    },
  };
  document.dispatchEvent(new Event("WeixinJSBridgeReady"));
})();
"""
