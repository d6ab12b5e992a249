// pltanomaly review: interactive per-channel chart drawn on a <canvas> from the JSON API.
// No library: two panels sharing the time axis, (top) rate or normalised rate with the reference,
// (bottom) ratio to the reference of the other live channels, with the channels' events shaded.
// Hover shows the values, drag zooms in time, double-click resets.
(function () {
  "use strict";
  // the plot's colours (pltanomaly.plot.CHANNEL_COLOURS), given in the same order: anomalous
  // channels by descending score; the other channels take the rest of the palette
  var PLOT_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#bcbd22"];
  var MORE_COLOURS = ["#8c564b", "#e377c2", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#636363", "#9c9ede"];
  function colourMap(channels) {
    var names = Object.keys(channels);
    var anomalous = names.filter(function (c) { return channels[c].status === "anomalous"; })
      .sort(function (a, b) { return (channels[b].score || 0) - (channels[a].score || 0); });
    var palette = PLOT_COLOURS.concat(MORE_COLOURS), out = {}, k = 0;
    anomalous.concat(names.filter(function (c) { return anomalous.indexOf(c) < 0; }))
      .forEach(function (c) { out[c] = palette[k++ % palette.length]; });
    return out;
  }
  var PAD = { l: 58, r: 14, t: 22, b: 26, gap: 34 };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function hhmm(t) { return new Date(t * 1000).toISOString().slice(11, 16); }
  function ticks(lo, hi, n) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    [1, 2, 2.5, 5, 10].some(function (m) { if (span / (step * m) <= n) { step *= m; return true; } return false; });
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  function timeTicks(lo, hi, n) {
    var steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];
    var step = steps.find(function (s) { return (hi - lo) / s <= n; }) || 86400;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
    return out;
  }

  function Chart(root, data) {
    this.root = root;
    this.data = data;
    this.t = data.t;
    this.mode = "norm";
    this.envelope = true;
    this.range = null;
    var names = Object.keys(data.channels);
    var wanted = (root.dataset.select || "").split(",").filter(function (c) { return names.indexOf(c) >= 0; });
    this.selected = new Set(wanted.length ? wanted : names.filter(function (c) { return data.channels[c].live; }).slice(0, 4));
    this.focus = root.dataset.focus || null;
    this.colour = colourMap(data.channels);
    this.build();
    this.draw();
  }

  Chart.prototype.build = function () {
    var self = this, root = this.root;
    root.textContent = "";
    var controls = el("div", { class: "controls" });
    Object.keys(this.data.channels).forEach(function (c) {
      var ch = self.data.channels[c];
      var label = el("label", { class: ch.status === "dead" ? "dead" : (ch.status === "anomalous" ? "anom" : "") ,
        title: ch.status + ", score " + (ch.score === null ? "–" : ch.score.toFixed(3)) });
      var box = el("input", { type: "checkbox", "data-channel": c });
      box.checked = self.selected.has(c);
      box.addEventListener("change", function () {
        if (box.checked) self.selected.add(c); else self.selected.delete(c);
        self.draw();
      });
      var sw = el("span", { class: "sw" });
      sw.style.background = self.colour[c];
      label.append(box, sw, document.createTextNode("ch " + c));
      controls.append(label);
    });
    var mode = el("select", { "aria-label": "top panel" });
    mode.append(el("option", { value: "norm" }, "normalised rate"), el("option", { value: "rate" }, "rate"));
    mode.addEventListener("change", function () { self.mode = mode.value; self.draw(); });
    var env = el("label", {});
    var envBox = el("input", { type: "checkbox" });
    envBox.checked = true;
    envBox.addEventListener("change", function () { self.envelope = envBox.checked; self.draw(); });
    env.append(envBox, document.createTextNode("min/max band"));
    var reset = el("button", { type: "button", class: "small" }, "reset zoom");
    reset.addEventListener("click", function () { self.range = null; self.draw(); });
    controls.append(mode, env, reset,
      el("span", { class: "hint" }, (this.data.downsampled ? this.data.points + " time bins of " + this.data.n_nb4 + " NB4 · " : "") + "drag to zoom, double-click to reset"));
    this.canvas = el("canvas", { role: "img", "aria-label": "rate and ratio to reference per channel" });
    this.tip = el("div", { class: "tip" });
    root.append(controls, this.canvas, this.tip);
    this.canvas.addEventListener("mousemove", function (e) { self.hover(e); });
    this.canvas.addEventListener("mouseleave", function () { self.tip.style.display = "none"; self.drawOverlay(null); });
    this.canvas.addEventListener("mousedown", function (e) { self.dragFrom = self.xToT(self.px(e).x); });
    this.canvas.addEventListener("mouseup", function (e) {
      if (self.dragFrom === undefined) return;
      var a = self.dragFrom, b = self.xToT(self.px(e).x);
      self.dragFrom = undefined;
      if (Math.abs(self.tToX(b) - self.tToX(a)) > 6) { self.range = [Math.min(a, b), Math.max(a, b)]; self.draw(); }
    });
    this.canvas.addEventListener("dblclick", function () { self.range = null; self.draw(); });
    window.addEventListener("resize", function () { self.draw(); });
  };

  Chart.prototype.px = function (e) {
    var r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  Chart.prototype.xToT = function (x) { return this.t0 + (x - PAD.l) / this.pw * (this.t1 - this.t0); };
  Chart.prototype.tToX = function (t) { return PAD.l + (t - this.t0) / (this.t1 - this.t0) * this.pw; };

  Chart.prototype.yRange = function (series, include) {
    var lo = Infinity, hi = -Infinity, t = this.t, t0 = this.t0, t1 = this.t1;
    series.forEach(function (s) {
      for (var i = 0; i < s.length; i++) {
        var v = s[i];
        if (v === null || t[i] < t0 || t[i] > t1) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    });
    if (include !== undefined) { lo = Math.min(lo, include); hi = Math.max(hi, include); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    var pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  };

  Chart.prototype.draw = function () {
    var w = this.root.clientWidth - 16, h = 460, dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.height = h + "px";
    var g = this.canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var t = this.t;
    if (!t.length) { g.fillText("No data in this fill's series.", 20, 30); return; }
    this.t0 = this.range ? this.range[0] : t[0];
    this.t1 = this.range ? this.range[1] : t[t.length - 1];
    if (this.t1 <= this.t0) this.t1 = this.t0 + 1;
    this.pw = w - PAD.l - PAD.r;
    var ph = (h - PAD.t - PAD.b - PAD.gap) / 2;
    this.panels = [{ y: PAD.t, h: ph }, { y: PAD.t + ph + PAD.gap, h: ph }];
    var self = this, sel = Array.from(this.selected).sort(function (a, b) { return a - b; });
    var chans = this.data.channels;
    var top = sel.map(function (c) { return chans[c][self.mode]; });
    if (this.mode === "norm") top.push(this.data.reference);
    var bottom = sel.map(function (c) { return chans[c].ratio; });
    this.panels[0].range = this.yRange(top, this.mode === "rate" ? 0 : undefined);
    var labels = this.data.labels || {};
    this.panels[0].title = this.mode === "norm" ? (labels.norm || "normalised rate") + "; dashed: median of the live channels" : "rate (Σ μ over colliding bunches)";
    this.panels[1].range = this.yRange(bottom, 1);
    this.panels[1].title = labels.ratio || "ratio to the reference";

    // events, shaded across both panels
    sel.forEach(function (c) {
      (chans[c].events || []).forEach(function (ev) {
        if (ev.start === null || ev.end === null) return;
        var x0 = Math.max(PAD.l, self.tToX(ev.start)), x1 = Math.min(PAD.l + self.pw, self.tToX(ev.end));
        if (x1 < x0) return;
        g.fillStyle = self.colour[c] + "26";
        self.panels.forEach(function (p) { g.fillRect(x0, p.y, Math.max(2, x1 - x0), p.h); });
        g.fillStyle = self.colour[c];
        g.font = "11px system-ui, sans-serif";
        g.fillText(ev.type + " ch" + c, x0 + 3, self.panels[0].y + 12);
      });
    });

    this.panels.forEach(function (p, k) {
      var lo = p.range[0], hi = p.range[1];
      p.yOf = function (v) { return p.y + p.h - (v - lo) / (hi - lo) * p.h; };
      g.strokeStyle = "#c9ced6"; g.lineWidth = 1;
      g.strokeRect(PAD.l, p.y, self.pw, p.h);
      g.fillStyle = "#444"; g.font = "11px system-ui, sans-serif"; g.textAlign = "right";
      ticks(lo, hi, 5).forEach(function (v) {
        var y = p.yOf(v);
        g.strokeStyle = "#eef0f3"; g.beginPath(); g.moveTo(PAD.l, y); g.lineTo(PAD.l + self.pw, y); g.stroke();
        g.fillText(+v.toPrecision(6) + "", PAD.l - 5, y + 4);
      });
      if (k === 1) {
        g.strokeStyle = "#888"; g.setLineDash([4, 3]); g.beginPath();
        g.moveTo(PAD.l, p.yOf(1)); g.lineTo(PAD.l + self.pw, p.yOf(1)); g.stroke(); g.setLineDash([]);
      }
      g.textAlign = "left"; g.fillStyle = "#333"; g.font = "12px system-ui, sans-serif";
      g.fillText(p.title, PAD.l, p.y - 6);
    });
    g.textAlign = "center"; g.fillStyle = "#444"; g.font = "11px system-ui, sans-serif";
    timeTicks(this.t0, this.t1, Math.max(3, Math.floor(this.pw / 90))).forEach(function (v) {
      var x = self.tToX(v);
      if (x < w - 40) g.fillText(hhmm(v), x, h - 8);  // keep clear of the "UTC" label
    });
    g.textAlign = "right"; g.fillText("UTC", w - 2, h - 8); g.textAlign = "left";

    g.save();
    g.beginPath(); g.rect(PAD.l, 0, this.pw, h); g.clip();
    // min/max envelope of the ratio
    if (this.envelope) {
      sel.forEach(function (c) {
        var lo = chans[c].ratio_min, hi = chans[c].ratio_max, p = self.panels[1];
        g.fillStyle = self.colour[c] + "30";
        for (var i = 0; i < t.length; i++) {
          if (lo[i] === null || hi[i] === null) continue;
          var x = self.tToX(t[i]);
          var y0 = Math.max(p.y, p.yOf(hi[i])), y1 = Math.min(p.y + p.h, p.yOf(lo[i]));
          if (y1 > y0) g.fillRect(x - 0.5, y0, 1.5, y1 - y0);
        }
      });
    }
    function line(series, p, color, width, dash) {
      g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash || []);
      g.beginPath();
      var pen = false;
      for (var i = 0; i < t.length; i++) {
        var v = series[i];
        if (v === null) { pen = false; continue; }
        var x = self.tToX(t[i]), y = Math.min(p.y + p.h + 2, Math.max(p.y - 2, p.yOf(v)));
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      }
      g.stroke(); g.setLineDash([]);
    }
    if (this.mode === "norm") line(this.data.reference, this.panels[0], "#222", 1.2, [5, 4]);
    sel.forEach(function (c) {
      var wdt = self.focus === c ? 2.2 : 1.3;
      line(chans[c][self.mode], self.panels[0], self.colour[c], wdt);
      line(chans[c].ratio, self.panels[1], self.colour[c], wdt);
    });
    g.restore();
    this.base = g.getImageData(0, 0, this.canvas.width, this.canvas.height);
    this.sel = sel;
  };

  Chart.prototype.drawOverlay = function (x) {
    if (!this.base) return;
    var g = this.canvas.getContext("2d");
    g.putImageData(this.base, 0, 0);
    if (x === null) return;
    g.strokeStyle = "rgba(20,36,59,.6)"; g.lineWidth = 1;
    g.beginPath(); g.moveTo(x, PAD.t); g.lineTo(x, this.panels[1].y + this.panels[1].h); g.stroke();
  };

  Chart.prototype.hover = function (e) {
    var p = this.px(e), t = this.t;
    if (p.x < PAD.l || p.x > PAD.l + this.pw) { this.tip.style.display = "none"; this.drawOverlay(null); return; }
    var tt = this.xToT(p.x), best = 0, bd = Infinity;
    for (var i = 0; i < t.length; i++) { var d = Math.abs(t[i] - tt); if (d < bd) { bd = d; best = i; } }
    this.drawOverlay(this.tToX(t[best]));
    var chans = this.data.channels, mode = this.mode, lines = [hhmm(t[best]) + " UTC"];
    this.sel.forEach(function (c) {
      var v = chans[c][mode][best], r = chans[c].ratio[best];
      lines.push("ch " + c + ": " + (mode === "norm" ? "norm " : "rate ") + (v === null ? "–" : v.toFixed(mode === "norm" ? 4 : 2)) +
        "   ratio " + (r === null ? "–" : r.toFixed(4)));
    });
    this.tip.textContent = lines.join("\n");
    this.tip.style.display = "block";
    var left = p.x + 18;
    if (left + 260 > this.root.clientWidth) left = p.x - 260;
    this.tip.style.left = left + "px";
    this.tip.style.top = (p.y + 30) + "px";
  };

  document.querySelectorAll(".chart[data-src]").forEach(function (root) {
    root.textContent = "Loading the series…";
    fetch(root.dataset.src).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.message || r.statusText); return body; });
    }).then(function (data) {
      root.chart = new Chart(root, data);
      root.dataset.ready = "1";
    }).catch(function (err) {
      root.textContent = "Could not load the series: " + err.message;
      root.dataset.ready = "error";
    });
  });
})();
