// The krpc web console: polls /console/series (the process's own ring of one-second samples)
// and /status every second, draws the charts with uPlot and the tables from /status. Each
// chart's element carries data-series (series drawn) and data-points (non-empty points), and
// <body> data-updates (refreshes done), so a headless browser can check what was rendered.
"use strict";
(function () {
  const PALETTE = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00",
                   "#b82e2e", "#316395", "#994499", "#22aa99"];
  const charts = {};   // id -> {plot, key, el}
  let updates = 0;

  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  const fmt = (v, digits = 3) => (v == null || Number.isNaN(v)) ? "–" :
    (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : Number(v.toPrecision(digits)).toString());

  // One chart: `series` is [{label, values}], all aligned to `t` (unix seconds).
  function drawChart(id, title, unit, t, series) {
    let c = charts[id];
    const key = series.map(s => s.label).join("|");
    if (!c) {
      const holder = el("div", {class: "card chart", id: "chart-" + id});
      holder.append(el("h2", {}, title));
      const plotEl = el("div", {class: "plot"});
      holder.append(plotEl);
      document.getElementById("charts").append(holder);
      c = charts[id] = {el: holder, plotEl, plot: null, key: null};
    }
    const data = [t, ...series.map(s => s.values)];
    if (c.key !== key || !c.plot) {  // the set of series changed: rebuild
      if (c.plot) c.plot.destroy();
      const width = Math.max(300, c.plotEl.clientWidth || 540);
      c.plot = new uPlot({
        width, height: 220,
        scales: {x: {time: true}, y: {range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1]}},
        axes: [{}, {label: unit, size: 60, values: (u, vals) => vals.map(v => fmt(v))}],
        series: [{}, ...series.map((s, i) => ({label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5,
                                                value: (u, v) => fmt(v), spanGaps: false}))],
        legend: {live: true},
      }, data, c.plotEl);
      c.key = key;
    } else {
      c.plot.setData(data);
    }
    let points = 0;
    for (const s of series) for (const v of s.values) if (v != null) points++;
    c.el.dataset.series = String(series.length);
    c.el.dataset.points = String(points);
  }

  function renderSeries(s) {
    const t = s.t;
    const label = m => (m.side === "client" ? "→ " : "") + m.name;
    const per = (field, scale = 1) => s.methods.map(m => ({label: label(m),
      values: m[field].map(v => v == null ? null : v * scale)}));
    drawChart("rate", "Calls/s per method", "calls/s", t, per("rate"));
    drawChart("errors", "Error rate per method", "%", t, per("error_rate", 100));
    drawChart("p50", "Latency p50 per method", "ms", t, per("p50_ms"));
    drawChart("p99", "Latency p99 per method", "ms", t, per("p99_ms"));
    const totals = (names) => names.filter(n => n in s.totals).map(n => ({label: n.replace(/_/g, " "), values: s.totals[n]}));
    drawChart("conns", "Connections and calls in flight", "count", t,
              totals(["server_connections", "server_inflight", "client_connections", "client_inflight"]));
    if ("server_received_bytes_per_s" in s.totals) {
      drawChart("bytes", "Bytes/s on the RPC port", "B/s", t, totals(["server_received_bytes_per_s", "server_sent_bytes_per_s"]));
    }
    if ("server_refused_per_s" in s.totals) {
      // Overload: calls in flight against the adaptive limit (0 when max_inflight is fixed), and
      // what the node refused at once instead of queueing (docs/operations.md).
      drawChart("overload", "Overload: limit, in flight, refusals/s", "count, per s", t,
                totals(["server_adaptive_limit", "server_inflight", "server_refused_per_s", "server_early_refused_per_s"]));
    }
    if ("server_streams_open" in s.totals) {
      // Streams: how many are open, their messages/s (both directions), and writes held back
      // by clients that do not read (flow control; docs/protocol.md "Streams").
      drawChart("streams", "Streams: open, messages/s, writes waiting", "count, per s", t,
                totals(["server_streams_open", "server_stream_messages_per_s", "server_stream_writes_waiting"]));
    }
    if ("client_retries_per_s" in s.totals) {
      drawChart("resilience", "Retries and hedges/s", "per s", t, totals(["client_retries_per_s", "client_hedges_per_s"]));
    }
  }

  function table(id, columns, rows, rowKey) {
    const t = el("table", {id});
    t.append(el("tr", {}, ...columns.map(c => el("th", {class: c.num ? "num" : ""}, c.title))));
    for (const r of rows) {
      const tr = el("tr", rowKey ? {"data-key": rowKey(r)} : {});
      for (const c of columns) {
        const v = c.get(r);
        const cls = (c.num ? "num" : "") + (c.state ? " state-" + v : "");
        tr.append(el("td", {class: cls}, c.num ? fmt(v) : (v == null ? "–" : v)));
      }
      t.append(tr);
    }
    return t;
  }
  const col = (title, get, opts = {}) => Object.assign({title, get: typeof get === "string" ? (r => r[get]) : get}, opts);

  function card(title, ...content) {
    const c = el("div", {class: "card"});
    c.append(el("h2", {}, title), ...content);
    return c;
  }

  function renderNode(st) {
    document.getElementById("kind").textContent =
      `node · port ${st.port} · ${st.ready ? "ready" : "not ready: " + st.reason}${st.draining ? " · draining" : ""}`;
    const reg = st.registry || {};
    const rows = [];
    for (const p of reg.providers || []) rows.push(p);
    return [
      card("Connections and calls", table("node-counters",
        [col("open", "open", {num: 1}), col("accepted", "accepted", {num: 1}), col("rejected", "rejected", {num: 1}),
         col("idle closed", "idle_closed", {num: 1}), col("frame errors", "frame_errors", {num: 1}),
         col("in flight", () => st.calls.inflight, {num: 1}), col("calls", () => st.calls.total, {num: 1})],
        [st.connections])),
      card("Streams", table("node-streams",
        [col("open", "open", {num: 1}), col("messages received", "messages_received", {num: 1}),
         col("messages sent", "messages_sent", {num: 1}), col("writes waiting", "writes_waiting", {num: 1})],
        [st.streams || {}])),
      card("Registry (ZooKeeper)", table("registry",
        [col("enabled", r => String(r.enabled)), col("state", "state"), col("session", "session"),
         col("advertised", "advertised"), col("registrations", "registrations", {num: 1}),
         col("expirations", "expirations", {num: 1})], [reg]),
        el("h2", {style: "margin-top:10px"}, "Its znodes"),
        table("znodes", [col("path", r => r)], reg.znodes || [], r => r),
        el("h2", {style: "margin-top:10px"}, "Providers it sees"),
        table("providers", [col("service", "service"), col("provider", "provider"), col("weight", "weight", {num: 1}),
                            col("zone", "zone"), col("node id", "node_id")], rows, r => r.provider)),
      card("Services", table("services", [col("service", r => r)], st.services || [], r => r)),
    ];
  }

  function renderClient(st) {
    document.getElementById("kind").textContent = `client · ${st.channels.length} channel(s)`;
    const out = [];
    out.push(card("Channels", table("channels",
      [col("target", "target"), col("calls", "calls", {num: 1}), col("retries", "retries", {num: 1}),
       col("transparent retries", "transparent_retries", {num: 1}),
       col("retry budget exhausted", "retry_budget_exhausted", {num: 1}), col("per-try timeouts", "per_try_timeouts", {num: 1}),
       col("hedges", "hedges", {num: 1}), col("hedges won", "hedges_won", {num: 1}), col("panic picks", "panic_picks", {num: 1})],
      st.channels, r => r.target)));
    const eps = [];
    for (const ch of st.channels) for (const e of ch.endpoints) eps.push(Object.assign({target: ch.target}, e));
    out.push(card("Endpoints", table("endpoints",
      [col("service", r => r.service || r.target), col("endpoint", "address"), col("state", "state", {state: 1}),
       col("breaker", "breaker", {state: 1}), col("weight", "weight", {num: 1}),
       col("latency ewma µs", "latency_ewma_us", {num: 1}), col("in flight", "inflight", {num: 1}),
       col("conns active", "connections_active", {num: 1}), col("conns idle", "connections_idle", {num: 1}),
       col("connects", "connects", {num: 1}), col("connect failures", "connect_failures", {num: 1}),
       col("stalls", "stalls", {num: 1}), col("ejections", "latency_ejections", {num: 1}),
       col("slow start", "slow_start", {num: 1}), col("breaker changes", "breaker_transitions", {num: 1})],
      eps, r => r.address)));
    return out;
  }

  async function refresh() {
    try {
      const [series, status] = await Promise.all([
        fetch("/console/series", {cache: "no-store"}).then(r => r.json()),
        fetch("/status", {cache: "no-store"}).then(r => r.json()),
      ]);
      if (status.registry) {  // a node: its znodes and the providers it sees
        Object.assign(status.registry, await fetch("/registry", {cache: "no-store"}).then(r => r.json()));
      }
      renderSeries(series);
      const tables = document.getElementById("tables");
      tables.replaceChildren(...(status.channels ? renderClient(status) : renderNode(status)));
      document.getElementById("updated").textContent =
        `updated ${new Date().toLocaleTimeString()} · ${series.t.length} samples of ${series.interval_ms} ms`;
      document.getElementById("error").textContent = "";
      document.body.dataset.updates = String(++updates);
    } catch (e) {
      document.getElementById("error").textContent = "refresh failed: " + e;
    }
  }
  refresh();
  setInterval(refresh, 1000);
})();
