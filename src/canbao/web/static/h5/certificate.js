"use strict";
(() => {
  const { el, yuan } = h5;
  const form = document.getElementById("identity");
  const error = document.getElementById("identity-error");
  const choices = document.getElementById("choices");
  const card = document.getElementById("certificate");
  let who = null;
  let chosen = null;

  function choice(person, e) {
    return el("button", { type: "button", class: "choice", "data-enrollment": e.enrollment_id,
      onclick: () => show(e.enrollment_id) },
      el("strong", { text: `${person.name} · ${e.benefit_year} 年度` }),
      el("span", { text: `${e.status_label} · ${yuan(e.amount)} · ${e.benefit_start} 至 ${e.benefit_end}` }));
  }

  async function show(enrollmentId) {
    const answer = await h5.call("POST", "/api/v1/resident/certificates", { ...who, enrollment_id: enrollmentId });
    if (!answer.ok) return h5.fail(error, h5.problem(answer));
    chosen = enrollmentId;
    const c = answer.data;
    const lines = document.getElementById("certificate-lines");
    lines.replaceChildren(...c.lines.map((line) => h5.row(line.label, line.value)).flat());
    document.getElementById("certificate-code").textContent = c.display_code;
    document.getElementById("certificate-note").textContent = c.valid
      ? "医保经办机构可凭验证码核验本凭证。"
      : "该参保记录已不在有效状态，本凭证不能作为参保证明。";
    h5.hide(document.getElementById("pdf-note"));
    card.hidden = false;
    card.scrollIntoView({ block: "start" });
  }

  document.getElementById("certificate-pdf").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    const note = document.getElementById("pdf-note");
    h5.busy(button, true, "正在生成…");
    try {
      const response = await fetch("/api/v1/resident/certificates/pdf", {
        method: "POST", headers: { "Content-Type": "application/json" }, cache: "no-store",
        body: JSON.stringify({ ...who, enrollment_id: chosen }),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        h5.fail(note, h5.problem({ status: response.status, data, response }));
        return;
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: "参保凭证.pdf", id: "pdf-link", text: "参保凭证.pdf" });
      note.replaceChildren("已生成：", link);
      note.hidden = false;
      link.click();
    } catch (error) {
      h5.fail(note, "网络连接失败，请检查网络后重试");
    } finally {
      h5.busy(button, false);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    who = h5.identity(document.getElementById("name"), document.getElementById("id-number"), error);
    if (!who) return;
    const button = document.getElementById("identity-submit");
    h5.busy(button, true, "查询中…");
    const answer = await h5.call("POST", "/api/v1/resident/records", who);
    h5.busy(button, false);
    choices.replaceChildren();
    card.hidden = true;
    if (!answer.ok) return h5.fail(error, h5.problem(answer));
    const people = [answer.data.me, ...answer.data.family];
    const items = people.flatMap((p) => p.enrollments.map((e) => choice(p, e)));
    choices.append(el("h2", { text: items.length ? "选择一条参保记录" : "没有参保记录" }), ...items);
    choices.hidden = false;
    const wanted = Number(location.hash.slice(1));
    if (items.length === 1) show(people.flatMap((p) => p.enrollments)[0].enrollment_id);
    else if (wanted && people.some((p) => p.enrollments.some((e) => e.enrollment_id === wanted))) show(wanted);
  });
})();
