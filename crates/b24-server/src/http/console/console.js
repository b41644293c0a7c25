// The web console's script (compiled into the binary): live updates of the Requests page by
// polling, confirmation before a reset, and the portal selector. Every page works without it.
(function () {
  'use strict';
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
  var table = document.getElementById('requests');
  var live = document.getElementById('live');
  if (table && table.dataset.live) {
    var body = table.querySelector('tbody');
    var busy = false;
    var poll = function () {
      if (busy || (live && !live.checked) || document.hidden) return;
      busy = true;
      fetch(table.dataset.live, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (rows) { if (rows !== null && rows !== body.innerHTML) body.innerHTML = rows; })
        .catch(function () {})
        .then(function () { busy = false; });
    };
    setInterval(poll, 1000);
  }
})();
