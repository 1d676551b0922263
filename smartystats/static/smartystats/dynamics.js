/* "Dynamics of subscribers": fetch the cached data as JSON, draw cards and charts. */
(function () {
  "use strict";
  var root = document.getElementById("sm-dynamics");
  if (!root) { return; }
  var LABELS = {
    customers_active: "Active customers", accounts_active: "Active accounts",
    customers_new: "New customers", accounts_new: "New accounts",
    customers_deactivated: "Deactivated customers", accounts_deactivated: "Deactivated accounts",
    online_peak_accounts: "Peak online (accounts)", online_peak_customers: "Peak online (customers)",
    payments_sum: "Payments", payments_count: "Number of payments",
    paying_customers: "Customers who received a payment (last bucket)"
  };
  var COLORS = ["#417690", "#e08e0b", "#2e7d32", "#c62828", "#6a1b9a", "#00838f"];
  var status = document.getElementById("sm-status");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function fmt(v) { return typeof v === "number" ? v.toLocaleString("en-US", {maximumFractionDigits: 2}) : String(v); }

  function card(key, label, w) {
    var c = el("div", "sm-card");
    c.dataset.widget = key;
    c.appendChild(el("div", "sm-label", label));
    var value = el("div", "sm-value", fmt(w.value));
    value.dataset.value = w.value;
    c.appendChild(value);
    if (w.change !== undefined) {
      var sign = w.change > 0 ? "+" : "";
      // Against an empty period a difference is just the value again: say so.
      var text = w.previous === 0 && w.value !== 0 ? "no data before" :
        sign + fmt(w.change) + (w.change_pct === null ? "" : " (" + sign + w.change_pct + "%)");
      c.appendChild(el("div", "sm-change" + (w.change > 0 ? " up" : w.change < 0 ? " down" : ""), text));
    }
    return c;
  }

  function renderCards(data) {
    var box = document.getElementById("sm-cards");
    box.textContent = "";
    Object.keys(LABELS).forEach(function (key) {
      var w = data.widgets[key];
      if (!w) { return; }
      if (key === "payments_sum" || key === "payments_count") {
        Object.keys(w).sort().forEach(function (cur) {
          box.appendChild(card(key + ":" + cur, LABELS[key] + " (" + cur + ")", w[cur]));
        });
      } else {
        box.appendChild(card(key, LABELS[key], w));
      }
    });
    var now = document.getElementById("sm-now");
    now.textContent = "";
    if (data.online_now) {
      now.appendChild(card("online_now", "Online now (accounts)", {value: data.online_now.accounts}));
      now.appendChild(card("online_now_customers", "Online now (customers)", {value: data.online_now.customers}));
    }
    if (data.snapshot) {
      now.appendChild(card("peak_today", "Peak today (accounts)", {value: data.snapshot.peak_today.accounts}));
      now.appendChild(card("snapshot_customers_active", "Active customers", {value: data.snapshot.customers.active}));
      now.appendChild(card("snapshot_accounts_active", "Active accounts", {value: data.snapshot.accounts.active}));
      now.appendChild(card("snapshot_new_today", "New customers today", {value: data.snapshot.customers.new_today}));
    }
  }

  function table(title, rows) {
    var t = el("table");
    var cap = el("caption", null, title);
    t.appendChild(cap);
    rows.forEach(function (r) {
      var tr = el("tr");
      r.forEach(function (cell, i) { tr.appendChild(el(i ? "td" : "th", null, fmt(cell))); });
      t.appendChild(tr);
    });
    return t;
  }

  function renderSnapshot(snap, deviceNames, refused) {
    var box = document.getElementById("sm-snapshot");
    box.textContent = "";
    if (refused) { box.appendChild(el("p", "sm-note", refused)); return; }
    if (!snap) { box.appendChild(el("p", "sm-note", "No snapshot yet: is save_stats running?")); return; }
    box.appendChild(el("p", "sm-note", "save_stats at " + snap.taken_at));
    var reasons = Object.keys(snap.accounts.inactive_by_reason).map(function (r) { return ["inactive: " + r, snap.accounts.inactive_by_reason[r]]; });
    box.appendChild(table("Accounts", [["total", snap.accounts.total], ["active", snap.accounts.active],
      ["inactive", snap.accounts.inactive]].concat(reasons).concat([["new this month", snap.accounts.new_month],
      ["deactivated this month", snap.accounts.deactivated_month]])));
    box.appendChild(table("Customers", [["total", snap.customers.total], ["active", snap.customers.active],
      ["inactive", snap.customers.inactive], ["new this month", snap.customers.new_month],
      ["deactivated this month", snap.customers.deactivated_month]]));
    box.appendChild(table("Accounts by device type (active / total)", Object.keys(snap.accounts_by_device_type).map(function (k) {
      var d = snap.accounts_by_device_type[k];
      return [deviceNames[k] || k, d.active + " / " + d.total]; })));
    box.appendChild(table("Accounts by tariff (active / total)", snap.accounts_by_tariff.map(function (t) {
      return [t.name, t.active + " / " + t.total]; })));
  }

  var charts = [];
  function chart(id, type, labels, sets) {
    var canvas = document.getElementById(id);
    var existing = Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    charts.push(new Chart(canvas, {
      type: type,
      data: {labels: labels, datasets: sets.map(function (s, i) {
        return {label: s[0], data: s[1], borderColor: COLORS[i % COLORS.length],
                backgroundColor: COLORS[i % COLORS.length], tension: 0, pointRadius: 1};
      })},
      options: {animation: false, responsive: true, maintainAspectRatio: false,
                interaction: {mode: "index", intersect: false}, scales: {y: {beginAtZero: true}}}
    }));
  }

  function renderCharts(data) {
    var s = data.series, l = data.labels;
    chart("chart-active", "line", l, [["Active customers", s.customers_active], ["Active accounts", s.accounts_active]]);
    chart("chart-flow", "bar", l, [["New customers", s.customers_new], ["New accounts", s.accounts_new],
      ["Deactivated customers", s.customers_deactivated], ["Deactivated accounts", s.accounts_deactivated]]);
    chart("chart-online", "line", l, [["Accounts", s.online_peak_accounts], ["Customers", s.online_peak_customers]]);
    chart("chart-payments", "bar", l, Object.keys(s.payments_sum).sort().map(function (c) { return ["Payments " + c, s.payments_sum[c]]; }));
    chart("chart-paying", "line", l, [["Paying customers", s.paying_customers]]);
  }

  var params = new URLSearchParams({client_id: root.dataset.client, from: root.dataset.from,
                                    to: root.dataset.to, frequency: root.dataset.frequency});
  fetch(root.dataset.url + "?" + params.toString(), {credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
    .then(function (res) {
      if (!res[0]) { throw new Error(res[1].error || "request failed"); }
      var data = res[1];
      renderCards(data);
      renderSnapshot(data.snapshot, data.device_type_names || {}, data.snapshot_refused);
      if (!data.labels.length && data.cache_state.status === "stale") {
        status.textContent = "Nothing to show until the caches are rebuilt in " + data.time_zone + ".";
      } else if (!data.labels.length) {
        status.textContent = "No cached data for this range yet: is cache_customers_dynamic running?";
      } else {
        renderCharts(data);
        status.textContent = data.client.name + ", " + data.range.from + " – " + data.range.to +
          " by " + data.range.frequency + " (" + data.time_zone + "); cached up to " + data.filled_to;
      }
      root.dataset.rendered = String(charts.length);
    })
    .catch(function (err) { status.textContent = "Could not load the data: " + err.message; root.dataset.rendered = "error"; });
})();
