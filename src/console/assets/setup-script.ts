/**
 * Setup's live check (served as /console/assets/setup.<hash>.js): on every edit, after a short
 * pause, the form is posted to /console/setup/check with the session's CSRF token in X-CSRF-Token,
 * and the findings the server renders replace those in the page's aria-live region. Without
 * JavaScript the Check button does the same with a whole page. Parsed with DOMParser, so nothing
 * in the answer runs; the answer is the server's own Preact rendering, escaped there.
 */
export const SETUP_JS = `
(function () {
  var form = document.getElementById('setup-form');
  var region = document.getElementById('findings');
  if (!form || !region || !window.fetch || !window.DOMParser) return;
  var url = form.getAttribute('data-check-url');
  var token = form.querySelector('input[name="_csrf"]');
  var timer = null;
  var sequence = 0;
  function check() {
    var mine = ++sequence;
    region.setAttribute('aria-busy', 'true');
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': token ? token.value : '' },
      body: new URLSearchParams(new FormData(form))
    }).then(function (response) {
      if (!response.ok) throw new Error('the console answered ' + response.status);
      return response.text();
    }).then(function (text) {
      if (mine !== sequence) return;
      var doc = new DOMParser().parseFromString(text, 'text/html');
      region.replaceChildren.apply(region, Array.prototype.slice.call(doc.body.childNodes));
      region.setAttribute('aria-busy', 'false');
    }).catch(function (error) {
      if (mine !== sequence) return;
      region.textContent = 'The check could not run (' + error.message + '): use the Check button.';
      region.setAttribute('aria-busy', 'false');
    });
  }
  function later() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, 300);
  }
  form.addEventListener('input', later);
  form.addEventListener('change', later);
})();
`;
