/**
 * `/t.js`: the first-party tag a landing page includes:
 *   <script src="https://calls.example.com/t.js?key=pk_…&campaign=mortgage-ny" async></script>
 * It keeps a first-party visitor id (cookie + localStorage on the landing domain), posts the landing URL (with
 * its click ids and UTM parameters) to `/v1/clicks`, and swaps the page's phone numbers — elements marked
 * `data-closeloop-phone`, or `tel:` links — for the pool number the server assigned to this visitor.
 * Requests use `text/plain` so the browser sends no CORS preflight; the server answers with CORS headers for
 * the origins bound to the key.
 */
export const TAG_JS = `(function () {
  var s = document.currentScript || document.querySelector('script[src*="/t.js"]');
  if (!s) return;
  var src = new URL(s.src, location.href);
  var key = src.searchParams.get('key') || '';
  var campaign = s.getAttribute('data-campaign') || src.searchParams.get('campaign') || '';
  var base = src.origin;
  function vid() {
    var m = document.cookie.match(/(?:^|; )_clvid=([A-Za-z0-9_.-]{8,128})/);
    var v = (m && m[1]) || (window.localStorage && localStorage.getItem('_clvid'));
    if (!v) {
      var a = new Uint8Array(16); crypto.getRandomValues(a);
      v = 'v_' + Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
    }
    try { localStorage.setItem('_clvid', v); } catch (e) {}
    document.cookie = '_clvid=' + v + '; path=/; max-age=' + 60 * 60 * 24 * 395 + '; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
    return v;
  }
  function format(n) {
    var d = n.replace(/[^0-9]/g, '');
    if (d.length === 11 && d[0] === '1') return '(' + d.slice(1, 4) + ') ' + d.slice(4, 7) + '-' + d.slice(7);
    return n;
  }
  function swap(number) {
    var els = document.querySelectorAll('[data-closeloop-phone], a[href^="tel:"]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.tagName === 'A') el.setAttribute('href', 'tel:' + number);
      if (el.hasAttribute('data-closeloop-phone') || /[0-9]{3}/.test(el.textContent || '')) el.textContent = format(number);
      el.setAttribute('data-closeloop-swapped', number);
    }
  }
  // the platforms' own browser ids, when their tags set them on this site: Meta's _fbp, GA's _ga, TikTok's _ttp
  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]{1,256})'));
    return m ? decodeURIComponent(m[1]) : undefined;
  }
  var body = { visitor_id: vid(), url: location.href, referrer: document.referrer || undefined, campaign: campaign || undefined, key: key,
    fbp: cookie('_fbp'), ga_client_id: cookie('_ga'), ttp: cookie('_ttp') };
  fetch(base + '/v1/clicks', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body), credentials: 'omit', keepalive: true })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (res) {
      // the answer can arrive before the parser reaches the page's phone numbers (an async tag in <head>, a
      // number in the footer of a slow page): swap once the document is parsed, then publish the result
      function done() { if (res && res.number) swap(res.number); window.closeloop = { visitor: body.visitor_id, result: res }; }
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', done);
      else done();
    })
    .catch(function () { window.closeloop = { visitor: body.visitor_id, result: null, error: true }; });
})();
`
