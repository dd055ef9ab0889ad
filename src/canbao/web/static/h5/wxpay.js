"use strict";
/* 微信支付 (JSAPI): back from WeChat's 网页授权 with ?code&state → POST /api/v1/orders/{no}/pay {code} (canbao
   gets the openid and places the JSAPI order) → WeixinJSBridge.invoke("getBrandWCPayRequest", params) → on
   get_brand_wcpay_request:ok the status page, which waits for the channel's notification (what enrolls). */
(() => {
  const box = document.getElementById("wxpay");
  const no = box.dataset.outTradeNo;
  const text = document.getElementById("wxpay-text");
  const error = document.getElementById("wxpay-error");
  const retry = document.getElementById("wxpay-retry");
  const token = sessionStorage.getItem(`h5:order:${no}`);
  const status = `/h5/status/${encodeURIComponent(no)}`;
  const query = new URLSearchParams(location.search);
  const code = query.get("code");
  const state = query.get("state");
  const expected = sessionStorage.getItem(`h5:wxstate:${no}`);
  history.replaceState(null, "", location.pathname);  // the code is used once: not kept in the address
  sessionStorage.removeItem(`h5:wxstate:${no}`);

  function stop(words, canRetry) {
    text.textContent = "支付未完成";
    h5.fail(error, words);
    retry.hidden = !canRetry;
  }
  function bridge() {
    if (window.WeixinJSBridge) return Promise.resolve(window.WeixinJSBridge);
    return new Promise((resolve) => {
      document.addEventListener("WeixinJSBridgeReady", () => resolve(window.WeixinJSBridge), { once: true });
      setTimeout(() => resolve(window.WeixinJSBridge || null), 3000);
    });
  }
  async function pay() {
    const answer = await h5.call("POST", `/api/v1/orders/${encodeURIComponent(no)}/pay`, { code }, { "X-Order-Token": token });
    if (!answer.ok) return stop(h5.problem(answer), true);
    if (answer.data.how !== "jsapi") return location.replace(status);
    const jsBridge = await bridge();
    if (!jsBridge) return stop("请在微信中打开本页面完成支付（微信支付须在微信内完成）。", false);
    text.textContent = "请在微信支付窗口中确认支付";
    jsBridge.invoke("getBrandWCPayRequest", answer.data.params, (result) => {
      const outcome = (result && result.err_msg) || "";
      if (outcome === "get_brand_wcpay_request:ok") return location.replace(status);
      if (outcome === "get_brand_wcpay_request:cancel") return stop("您已取消支付，未发生扣款。", true);
      return stop(`支付未成功${result && result.err_desc ? `（${result.err_desc}）` : ""}，请重新发起支付。`, true);
    });
  }
  retry.addEventListener("click", async () => {
    h5.busy(retry, true, "正在发起…");
    const answer = await h5.startPayStep(no, token, true);
    h5.busy(retry, false);
    if (!answer.ok) return stop(h5.problem(answer), true);
    location.href = answer.data.how === "redirect" ? answer.data.url : status;
  });

  if (!token) return stop("订单的凭据只保存在下单的页面中，请回到缴费页面重新下单。", false);
  if (!code || !state || state !== expected) return stop("微信授权未完成或已过期，请重新发起支付。", true);
  pay();
})();
