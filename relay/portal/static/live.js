// My sessions, live (live.go): the queue's rows come from the relay's
// event stream; someone joining the queue shows in a status line and, when
// the user allowed it with the button (never asked on load), as a browser
// notification.
(() => {
  'use strict';
  const rows = document.querySelector('tbody[data-live]');
  if (!rows || !window.EventSource) return;
  const status = document.getElementById('queue-status');
  const btn = document.getElementById('notify-btn');
  const canNotify = 'Notification' in window;
  let pending = null;
  let first = true;

  // Never swap rows under the user's hands: an open form or focus inside
  // waits until they leave it.
  const busy = () => rows.contains(document.activeElement) || rows.querySelector('details[open]');
  // Rows the page already shows are not swapped: a click aimed at a row
  // must not land on a node the stream just replaced with its twin.
  const shown = (html) => {
    const t = document.createElement('template');
    t.innerHTML = html;
    return t.innerHTML === rows.innerHTML;
  };
  const apply = () => {
    if (pending === null || busy()) return;
    if (shown(pending)) { pending = null; return; }
    rows.innerHTML = pending;
    pending = null;
    rows.dataset.updates = String(Number(rows.dataset.updates || 0) + 1);
  };
  rows.addEventListener('focusout', () => setTimeout(apply, 0));
  rows.addEventListener('toggle', () => setTimeout(apply, 0), true);

  const showButton = () => {
    if (btn) btn.hidden = !canNotify || Notification.permission !== 'default';
  };
  if (btn && canNotify) {
    btn.addEventListener('click', () => {
      Promise.resolve(Notification.requestPermission()).then(showButton, showButton);
    });
  }
  showButton();

  const es = new EventSource(rows.dataset.live);
  es.addEventListener('queue', (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    // The first event repeats the page, which may carry a form's error
    // message the stream knows nothing of: keep the page then.
    if (!(first && rows.querySelector('.field-error'))) {
      pending = String(m.html || '');
      apply();
    }
    first = false;
    rows.dataset.stream = 'up';
    for (const j of m.joined || []) {
      const text = (j.machine ? j.machine : 'Someone') + ' joined the queue with key ' + j.key + '.';
      if (status) status.textContent = text;
      if (canNotify && Notification.permission === 'granted') {
        try { new Notification('OnDemand session waiting', { body: text, tag: 'tandem-' + j.key }); } catch { /* not allowed here */ }
      }
    }
  });
  es.addEventListener('signedout', () => { es.close(); location.reload(); });
})();
