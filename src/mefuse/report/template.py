# ruff: noqa: E501  (HTML rows read better on one line each)
"""The report's HTML template (jinja2), kept in a module so that it ships with the package."""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mefuse {{ version }}">
<title>{{ title }}</title>
<style>
  :root { --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --accent: #3366aa; --bg: #f6f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
         sans-serif; color: var(--ink); background: #fff; }
  main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
  header { border-bottom: 3px solid var(--accent); margin-bottom: 20px; padding-bottom: 8px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h2 { font-size: 21px; margin: 36px 0 10px; padding-top: 8px; border-top: 1px solid var(--line); }
  main > section:first-of-type > h2 { border-top: none; margin-top: 8px; }
  h3 { font-size: 16px; margin: 22px 0 6px; }
  .muted { color: var(--muted); font-size: 13px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0 8px; }
  .card { background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
          padding: 10px 16px; min-width: 150px; }
  .card .value { font-size: 22px; font-weight: 600; }
  .card .label { font-size: 12px; color: var(--muted); text-transform: uppercase;
                 letter-spacing: .04em; }
  figure { margin: 14px 0 22px; }
  figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
               border-radius: 6px; }
  figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
  table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
  th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; }
  th { background: var(--bg); }
  td.text, th.text { text-align: left; }
  tr.best td { font-weight: 600; }
  pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
        padding: 10px; font-size: 12px; overflow-x: auto; max-height: 420px; }
  details { margin: 8px 0; }
  summary { cursor: pointer; font-weight: 600; }
  .warning { color: #9a6700; }
  nav a { margin-right: 14px; }
</style>
</head>
<body>
<main>
<header>
  <h1>{{ title }}</h1>
  <div class="muted">{{ subtitle }} · generated {{ generated }} by mefuse {{ version }}</div>
  {% if nav %}<nav>{% for anchor, label in nav %}<a href="#{{ anchor }}">{{ label }}</a>{% endfor %}</nav>{% endif %}
</header>

{% if bench %}
<section id="overview">
  <h2>Grid overview</h2>
  <div class="cards">
    {% for label, value in bench.cards %}<div class="card"><div class="value">{{ value }}</div><div class="label">{{ label }}</div></div>{% endfor %}
  </div>
  {% for plot in bench.plots %}{{ figure(plot) }}{% endfor %}
  <table>
    <thead><tr><th class="text">Feature set</th><th class="text">Strategy</th><th>{{ bench.score }}</th><th>Var (%²)</th><th>UF1</th><th>UAR</th><th class="text">Gate</th><th class="text">Cell</th></tr></thead>
    <tbody>
    {% for row in bench.rows %}<tr{% if row.best %} class="best"{% endif %}><td class="text">{{ row.feature_set }}</td><td class="text">{{ row.strategy }}</td><td>{{ row.f1 }}</td><td>{{ row.var }}</td><td>{{ row.uf1 }}</td><td>{{ row.uar }}</td><td class="text">{{ row.gate }}</td><td class="text">{% if row.anchor %}<a href="#{{ row.anchor }}">{{ row.cell_id }}</a>{% else %}{{ row.cell_id }}{% endif %}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% if bench.missing %}<p class="warning">Not finished: {{ bench.missing|join(", ") }}</p>{% endif %}
  {% if bench.comparisons %}
  <h3 id="comparisons">Paired comparisons</h3>
  <p>{{ bench.comparison_note }}</p>
  <table>
    <thead><tr><th class="text">A</th><th class="text">B</th><th>Δ macro-F1 (pp)</th><th>Interval</th><th class="text">Excludes 0</th><th class="text">Resampled</th></tr></thead>
    <tbody>
    {% for row in bench.comparisons %}<tr{% if row.excludes %} class="best"{% endif %}><td class="text">{{ row.a }}</td><td class="text">{{ row.b }}</td><td>{{ row.difference }}</td><td>{{ row.interval }}</td><td class="text">{{ "yes" if row.excludes else "no" }}</td><td class="text">{{ row.unit }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% endif %}
</section>
{% endif %}

{% if spotting is defined and spotting %}
<section id="spotting">
  <h2>Spotting</h2>
  <div class="cards">
    {% for label, value in spotting.cards %}<div class="card"><div class="value">{{ value }}</div><div class="label">{{ label }}</div></div>{% endfor %}
  </div>
  <table class="spot-scores">
    <thead><tr><th class="text">Spotter</th><th class="text">Type</th><th>TP</th><th>FP</th><th>FN</th><th>Precision</th><th>Recall</th><th>F1</th></tr></thead>
    <tbody>{% for row in spotting.scores %}<tr{% if row.part == "overall" %} class="best"{% endif %}><td class="text">{{ row.spotter }}</td><td class="text">{{ row.part }}</td><td>{{ row.tp }}</td><td>{{ row.fp }}</td><td>{{ row.fn }}</td><td>{{ row.precision }}</td><td>{{ row.recall }}</td><td>{{ row.f1 }}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="muted">MEGC scoring: a spotted interval is correct at IoU &ge; 0.5 with a truth of the same type; counts summed over videos; each held-out subject spotted by a spotter fitted on the others.</p>
  {% for video, reason in spotting.failed.items() %}<p class="warning">not evaluated: {{ video }}: {{ reason }}</p>{% endfor %}
  <h3>Per video</h3>
  <table class="spot-videos">
    <thead><tr><th class="text">Video</th><th class="text">Subject</th><th>Frames</th><th>Truth ME / MaE</th>{% for kind in spotting.spotters %}<th>{{ kind }} TP / FP / FN</th>{% endfor %}</tr></thead>
    <tbody>{% for row in spotting.videos %}<tr><td class="text">{{ row.video }}</td><td class="text">{{ row.subject }}</td><td>{{ row.frames }}</td><td>{{ row.truth }}</td>{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody>
  </table>
  <details class="spot-intervals"><summary>Intervals ({{ spotting.intervals|length }} of {{ spotting.n_intervals }}: truth and every spotter, by video and onset)</summary>
  <table>
    <thead><tr><th class="text">Video</th><th class="text">From</th><th>Onset</th><th>Offset</th><th class="text">Type</th><th>Score</th></tr></thead>
    <tbody>{% for row in spotting.intervals %}<tr><td class="text">{{ row.video }}</td><td class="text">{{ row.source }}</td><td>{{ row.onset }}</td><td>{{ row.offset }}</td><td class="text">{{ row.type }}</td><td>{{ row.score }}</td></tr>{% endfor %}</tbody>
  </table>
  </details>
</section>
{% endif %}

{% for run in runs %}
<section id="{{ run.anchor }}" class="run">
  <h2>{{ run.title }}</h2>
  <div class="cards">
    {% for label, value in run.cards %}<div class="card"><div class="value">{{ value }}</div><div class="label">{{ label }}</div></div>{% endfor %}
  </div>
  {% for warning in run.warnings %}<p class="warning">warning: {{ warning }}</p>{% endfor %}
  {% if run.parts %}
  <h3>Dataset parts</h3>
  <table class="dataset-parts">
    <thead><tr><th class="text">Part</th><th>Clips</th><th>UF1</th><th>UAR</th></tr></thead>
    <tbody>{% for row in run.parts %}<tr{% if row.total %} class="best"{% endif %}><td class="text">{{ row.part }}</td><td>{{ row.clips }}</td><td>{{ row.uf1 }}</td><td>{{ row.uar }}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="muted">Test predictions pooled over folds and restricted to each part's clips (the MEGC tables' per-database scores), mean ± std over seeds.</p>
  {% endif %}
  {% for plot in run.plots %}
  {{ figure(plot) }}
  {% if plot.name == "confusion" %}
  <table>
    <thead><tr><th class="text">Class</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th><th>Precision</th><th>Recall</th><th>F1</th></tr></thead>
    <tbody>{% for row in run.confusion %}<tr><td class="text">{{ row.cls }}</td><td>{{ row.TP }}</td><td>{{ row.FP }}</td><td>{{ row.FN }}</td><td>{{ row.TN }}</td><td>{{ row.precision }}</td><td>{{ row.recall }}</td><td>{{ row.f1 }}</td></tr>{% endfor %}</tbody>
  </table>
  {% endif %}
  {% if plot.name == "confusion-matrix" %}
  <table class="confusion-matrix">
    <thead><tr><th class="text">True \ predicted</th>{% for c in run.classes %}<th>{{ c }}</th>{% endfor %}<th>Total</th></tr></thead>
    <tbody>{% for row in run.matrix %}<tr><td class="text">{{ row.cls }}</td>{% for v in row.cells %}<td>{{ v }}</td>{% endfor %}<td>{{ row.total }}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="muted">Counts (share of the row), pooled over folds, mean over seeds.</p>
  {% endif %}
  {% endfor %}
  <h3>Folds</h3>
  <table>
    <thead><tr><th>Seed</th><th>Fold</th><th>{{ run.fold_score }}</th>{% for c in run.classes %}<th>{{ c }}</th>{% endfor %}<th class="text">Gate</th>{% if run.show_thresholds %}<th class="text">Thresholds</th>{% endif %}</tr></thead>
    <tbody>{% for row in run.folds %}<tr><td>{{ row.seed }}</td><td>{{ row.fold }}</td><td>{{ row.macro_f1 }}</td>{% for v in row.per_class %}<td>{{ v }}</td>{% endfor %}<td class="text">{{ row.gate }}</td>{% if run.show_thresholds %}<td class="text">{{ row.thresholds }}</td>{% endif %}</tr>{% endfor %}</tbody>
  </table>
  {% if run.audit %}
  <h3 id="{{ run.anchor }}-audit">Audit of test-set epoch selection ({{ run.audit.label }})</h3>
  <p class="warning">These numbers are NOT a result of this run. They show what the rule of many public micro-expression training scripts (keep, for each left-out fold, the epoch that scored best on that fold's own test clips) would have reported on the same data; the honest numbers above use the last epoch, chosen before any test clip was seen.</p>
  <table>
    <thead><tr><th class="text">Pooled score</th><th>Honest (mefuse)</th><th>Leaky</th><th>Inflation</th><th>Interval</th></tr></thead>
    <tbody>{% for row in run.audit.rows %}<tr><td class="text">{{ row.metric }}</td><td>{{ row.honest }}</td><td>{{ row.leaky }}</td><td>{{ row.inflation }}</td><td>{{ row.interval }}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="muted">{{ run.audit.caption }}</p>
  {% endif %}
  <details class="config"><summary>Configuration</summary><pre>{{ run.config }}</pre></details>
  <details class="provenance"><summary>Provenance</summary><pre>{{ run.provenance }}</pre></details>
</section>
{% endfor %}
</main>
<script>
  // Marks every plot that the browser decoded; headless checks read the result from the DOM.
  window.addEventListener("load", function () {
    var plots = document.querySelectorAll("img.plot"), ok = 0;
    plots.forEach(function (img) {
      var good = img.complete && img.naturalWidth > 0;
      img.setAttribute("data-loaded", good ? "yes" : "no");
      if (good) { ok += 1; }
    });
    document.body.setAttribute("data-plots-loaded", ok + "/" + plots.length);
  });
</script>
</body>
</html>
"""

FIGURE = r"""<figure id="{{ plot.anchor }}">
  <img class="plot" data-plot="{{ plot.name }}" alt="{{ plot.title }}" width="{{ plot.width }}" height="{{ plot.height }}" src="data:image/png;base64,{{ plot.base64 }}">
  <figcaption><strong>{{ plot.title }}.</strong> {{ plot.caption }} <a href="{{ plot.file }}">PNG</a></figcaption>
</figure>"""
