/**
 * The report page's style and its script (plain browser JavaScript, inlined by `report.ts`). The
 * script reads the JSON in `#dgg-data`, draws each `.chart` with ECharts, and marks a chart
 * `data-rendered` once drawn and the body `data-ready` once all are (the browser test waits on it).
 *
 * @packageDocumentation
 */

export const PAGE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0; background: #f6f7f9; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 22px; margin: 0 0 4px; word-break: break-word; }
h2 { font-size: 17px; margin: 0 0 8px; }
.facts, .note, footer, .hint { color: #555; }
.hint { font-size: 12px; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 6px; padding: 14px 16px; margin: 14px 0; }
.row { display: flex; flex-wrap: wrap; gap: 12px; }
.row figure { flex: 1 1 520px; }
figure { margin: 0; }
figcaption { font-weight: 600; font-size: 13px; }
.chart { width: 100%; height: 460px; }
.chart.wide { height: 300px; }
.chart.short { height: 220px; }
.chart.small { height: 240px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #e2e4e8; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .value { font-size: 24px; font-weight: 600; }
.card .name { font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin-top: 8px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #e2e4e8; padding: 3px 8px; text-align: right; }
thead th { background: #f0f2f5; }
td.match { outline: 2px solid #222; outline-offset: -2px; font-weight: 600; }
td.total { color: #555; }
.mapping { font-size: 13px; }
pre { background: #f6f7f9; padding: 8px; overflow-x: auto; }
.examples-row { display: flex; align-items: center; gap: 12px; padding: 4px 0; border-top: 1px solid #eee; }
.examples-name { width: 150px; flex: none; font-weight: 600; }
.tiles { display: flex; flex-wrap: wrap; gap: 3px; }
.tiles.least { margin-left: 18px; padding-left: 18px; border-left: 2px dashed #bbb; }
.tile { image-rendering: pixelated; background: #000; border: 2px solid transparent; }
.tile.miss { border-color: #d33; }
footer { font-size: 12px; padding-bottom: 24px; }
`;

export const PAGE_SCRIPT = `(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('dgg-data').textContent);
  var charts = [];
  var pending = 0;
  function ready() { document.body.setAttribute('data-ready', '1'); }
  function make(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    var done = false;
    pending++;
    chart.on('finished', function () {
      if (done) return;
      done = true;
      el.setAttribute('data-rendered', '1');
      if (--pending === 0) ready();
    });
    option.animation = false;
    chart.setOption(option);
    charts.push(chart);
  }
  function legend() { return { top: 0, itemWidth: 16, itemHeight: 10, textStyle: { fontSize: 11 } }; }
  // d3's category10, then golden-angle hues: distinct colours for any number of clusters.
  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  function colour(i) { return i < PALETTE.length ? PALETTE[i] : 'hsl(' + Math.round((i * 137.508) % 360) + ', 65%, 45%)'; }
  // A map's axes carry no meaning: no line, ticks, labels or grid.
  function bare() {
    return { type: 'value', scale: true, axisLine: { show: false }, axisTick: { show: false }, axisLabel: { show: false }, splitLine: { show: false } };
  }

  function scatter(id, labels, names, colours, prefix) {
    var groups = {};
    var m = data.map;
    for (var i = 0; i < m.x.length; i++) {
      var g = labels[i];
      (groups[g] = groups[g] || []).push([m.x[i], m.y[i], m.row[i], m.cluster[i], m.cls ? m.cls[i] : -1]);
    }
    var size = m.x.length > 3000 ? 3 : 5;
    var series = names.map(function (g, i) {
      return { name: prefix + ' ' + g, type: 'scatter', symbolSize: size, itemStyle: { color: colour(colours[i]) }, data: groups[g] || [] };
    });
    make(id, {
      legend: { type: 'scroll', orient: 'vertical', right: 0, top: 10, bottom: 10 },
      grid: { top: 10, left: 10, right: 110, bottom: 10 },
      tooltip: { trigger: 'item', formatter: function (p) {
        var v = p.value;
        return 'row ' + v[2] + '<br>cluster ' + v[3] + (v[4] >= 0 ? '<br>class ' + v[4] : '');
      } },
      xAxis: bare(),
      yAxis: bare(),
      series: series
    });
  }
  var clusters = [];
  for (var c = 0; c < data.k; c++) clusters.push(c);
  // With true classes, a cluster takes the colour of the class matched to it.
  scatter('chart-map-cluster', data.map.cluster, clusters, data.map.clusterColour, 'cluster');
  if (data.map.cls) scatter('chart-map-class', data.map.cls, data.map.classes, data.map.classes.map(function (_, i) { return i; }), 'class');

  make('chart-sizes', {
    legend: legend(),
    tooltip: { trigger: 'axis' },
    grid: { top: 40, left: 50, right: 20, bottom: 30 },
    xAxis: { type: 'category', data: clusters.map(function (c) { return 'cluster ' + c; }) },
    yAxis: { type: 'value' },
    series: [
      { name: 'share of rows', type: 'bar', data: data.sizes.share },
      { name: 'mixture weight', type: 'bar', data: data.sizes.weights }
    ]
  });

  data.curves.forEach(function (curve, i) {
    var right = curve.series.some(function (s) { return s.axis === 1; });
    var yAxis = [{ type: 'value', scale: true }];
    if (right) yAxis.push({ type: 'value', min: 0, max: 1, splitLine: { show: false } });
    make('chart-train-' + i, {
      legend: legend(),
      tooltip: { trigger: 'axis' },
      grid: { top: curve.series.length > 3 ? 62 : 40, left: 55, right: right ? 45 : 20, bottom: 30 },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 22, minInterval: 1, scale: true },
      yAxis: yAxis,
      series: curve.series.map(function (s) {
        return { name: s.name, type: 'line', yAxisIndex: s.axis, showSymbol: s.points.length <= 30, data: s.points };
      })
    });
  });

  make('chart-timings', {
    tooltip: { trigger: 'axis', valueFormatter: function (v) { return v + ' s'; } },
    grid: { top: 10, left: 80, right: 40, bottom: 30 },
    xAxis: { type: 'value', name: 's' },
    yAxis: { type: 'category', inverse: true, data: data.timings.map(function (t) { return t[0]; }) },
    series: [{ type: 'bar', data: data.timings.map(function (t) { return t[1]; }), label: { show: true, position: 'right' } }]
  });

  if (pending === 0) ready();
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
})();
`;
