/**
 * The dashboard at `GET /`: one static page (no data in it, so it needs no auth to load) that asks for an API
 * key, keeps it in the browser's sessionStorage, and reads the same authenticated API everyone else uses:
 * destination health, delivery counts, the match rate against its baseline, the last week's reconciliation,
 * dead letters with replay, and the trace of any event.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>closeloop</title>
<style>
 body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
 header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
 header h1{font-size:17px;margin:0} header input{width:260px} main{padding:16px 20px;display:grid;gap:16px}
 section{background:#fff;border:1px solid #dfe3ea;border-radius:6px;padding:12px 16px}
 h2{font-size:15px;margin:0 0 8px} table{border-collapse:collapse;width:100%} td,th{padding:4px 8px;border-bottom:1px solid #eef0f4;text-align:left;font-size:13px}
 .ok{color:#137333}.bad{color:#b3261e}.muted{color:#6b7280} pre{background:#f3f4f6;padding:8px;overflow:auto;max-height:420px;font-size:12px}
 .cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dfe3ea;border-radius:6px;padding:8px 14px;min-width:110px}.card b{display:block;font-size:20px}
</style></head>
<body>
<header><h1>closeloop</h1><label>API key <input id="key" type="password" autocomplete="off"></label><button id="save">Connect</button><span id="status" class="muted"></span></header>
<main>
 <section><h2>Deliveries</h2><div class="cards" id="counts"></div></section>
 <section><h2>Destinations</h2><table><thead><tr><th>name</th><th>type</th><th>state</th><th>queued</th><th>in flight</th></tr></thead><tbody id="dests"></tbody></table></section>
 <section><h2>Match rate</h2><p class="muted" id="matchWindows"></p><table><thead><tr><th>campaign</th><th>destination</th><th>current</th><th>baseline</th><th></th></tr></thead><tbody id="match"></tbody></table></section>
 <section><h2>Conversions, last 7 days</h2><p class="muted" id="reconWindow"></p><table><thead><tr><th>day</th><th>campaign</th><th>signal</th><th>destination</th><th>signals</th><th>delivered</th><th>pending</th><th>dead</th><th>skipped</th><th>delivered value</th></tr></thead><tbody id="recon"></tbody></table></section>
 <section><h2>Dead letters</h2><table><thead><tr><th>delivery</th><th>destination</th><th>attempts</th><th>last error</th><th></th></tr></thead><tbody id="dead"></tbody></table></section>
 <section><h2>Trace an event</h2><input id="eventId" placeholder="evt_…" size="40"> <button id="trace">Show</button><pre id="traceOut" class="muted">raw input → canonical event → signals → deliveries → attempts</pre></section>
</main>
<script>
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]))
$('key').value = sessionStorage.getItem('closeloop-key') || ''
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { authorization: 'Bearer ' + $('key').value, ...(init.headers || {}) } })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status)
  return body
}
async function refresh() {
  try {
    const [stats, dests, dead] = await Promise.all([api('/v1/stats'), api('/v1/destinations'), api('/v1/deliveries?status=dead&limit=50')])
    $('status').textContent = 'connected · ' + new Date().toLocaleTimeString()
    // a large PostgreSQL table's figure is an estimate (stats.approximate): shown with ≈
    const about = (name, n) => ((stats.approximate || []).includes(name) ? '≈ ' : '') + n
    $('counts').innerHTML = ['pending','in_flight','delivered','dead'].map((s) => '<div class="card"><span class="muted">' + s + '</span><b>' + about('deliveries.' + s, stats.deliveries[s] || 0) + '</b></div>').join('') +
      '<div class="card"><span class="muted">events</span><b>' + about('events', stats.events) + '</b></div><div class="card"><span class="muted">signals</span><b>' + about('signals', stats.signals) + '</b></div>'
    $('dests').innerHTML = dests.destinations.map((d) => {
      const state = !d.enabled ? '<span class="muted">disabled: ' + esc(d.disabled_reason) + '</span>' : d.health && d.health.paused ? '<span class="bad">paused: ' + esc(d.health.paused.reason) + '</span>' : d.health && d.health.state !== 'closed' ? '<span class="bad">breaker ' + esc(d.health.state) + '</span>' : '<span class="ok">healthy</span>'
      return '<tr><td>' + esc(d.name) + '</td><td>' + esc(d.type) + '</td><td>' + state + '</td><td>' + esc(d.queued ?? '') + '</td><td>' + esc(d.inFlight ?? '') + '</td></tr>'
    }).join('')
    $('dead').innerHTML = dead.deliveries.map((d) => '<tr><td>' + esc(d.id) + '</td><td>' + esc(d.destination) + '</td><td>' + d.attempts + '</td><td>' + esc(d.lastError) + '</td><td><button data-replay="' + esc(d.id) + '">Replay</button></td></tr>').join('') || '<tr><td colspan="5" class="muted">none</td></tr>'
  } catch (err) { $('status').textContent = String(err.message) }
}
// the match rate and the reconciliation read every delivery of their days: once a minute, not every 5 s
const pct = (r) => r.rate === null ? '–' : Math.round(r.rate * 1000) / 10 + ' % <span class="muted">of ' + r.reported + '</span>'
async function refreshMatch() {
  try {
    const m = await api('/v1/reports/match-rate')
    $('matchWindows').textContent = 'delivered conversions carrying a click id or consented PII, ' + m.current.from.slice(0, 16) + ' … ' + m.current.to.slice(0, 16) + ' UTC against the ' + Math.round((Date.parse(m.baseline.to) - Date.parse(m.baseline.from)) / 864e5) + ' days before'
    $('match').innerHTML = m.checks.map((c) => '<tr><td>' + (c.campaign === null ? '<span class="muted">(none)</span>' : esc(c.campaign)) + '</td><td>' + esc(c.destination) + '</td><td>' + pct(c.current) + '</td><td>' + pct(c.baseline) + '</td><td>' + (c.alert ? '<span class="bad">dropped ≥ ' + Math.round(m.drop * 100) + ' points</span>' : '<span class="ok">ok</span>') + '</td></tr>').join('') || '<tr><td colspan="5" class="muted">no deliveries to destinations that report match keys</td></tr>'
  } catch (err) { $('matchWindows').textContent = String(err.message) }
}
// newest days first; at most 50 rows here, the whole report is GET /v1/reports/reconciliation (or ?format=csv)
const RECON_ROWS = 50
async function refreshRecon() {
  try {
    const r = await api('/v1/reports/reconciliation')
    const rows = r.conversions.slice().reverse()
    $('reconWindow').textContent = r.from + ' … ' + r.to + ' (' + r.timezone + '), by when closeloop received the input' + (rows.length > RECON_ROWS ? ' · the newest ' + RECON_ROWS + ' of ' + rows.length + ' rows' : '')
    const gap = (n) => n > 0 ? '<span class="bad">' + n + '</span>' : '0'
    $('recon').innerHTML = rows.slice(0, RECON_ROWS).map((c) => '<tr><td>' + esc(c.day) + '</td><td>' + (c.campaign === null ? '<span class="muted">(none)</span>' : esc(c.campaign)) + '</td><td>' + esc(c.signal) + '</td><td>' + (c.destination === null ? '<span class="muted">(no route)</span>' : esc(c.destination)) + '</td><td>' + c.signals + '</td><td>' + c.delivered + '</td><td>' + c.pending + '</td><td>' + gap(c.dead) + '</td><td>' + c.skipped + '</td><td>' + esc(Math.round(c.deliveredValue * 100) / 100 + ' ' + c.currency) + '</td></tr>').join('') || '<tr><td colspan="10" class="muted">no signals</td></tr>'
  } catch (err) { $('reconWindow').textContent = String(err.message) }
}
$('save').onclick = () => { sessionStorage.setItem('closeloop-key', $('key').value); refresh(); refreshMatch(); refreshRecon() }
$('dead').onclick = async (e) => { const id = e.target.dataset && e.target.dataset.replay; if (id) { await api('/v1/deliveries/' + id + '/replay', { method: 'POST' }); refresh() } }
$('trace').onclick = async () => { try { $('traceOut').textContent = JSON.stringify(await api('/v1/events/' + encodeURIComponent($('eventId').value.trim())), null, 2) } catch (err) { $('traceOut').textContent = err.message } }
if ($('key').value) { refresh(); refreshMatch(); refreshRecon() }
setInterval(() => { if ($('key').value) refresh() }, 5000)
setInterval(() => { if ($('key').value) { refreshMatch(); refreshRecon() } }, 60000)
</script>
</body></html>`
