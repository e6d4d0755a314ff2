/**
 * The demo site's own script (/demo/site.js, built by `npm run build`): sends the payment form
 * without leaving the page and follows the transaction's result until the phone answers. The
 * footer script's `nextauth` event with `event: "transaction"` makes it ask at once; otherwise it
 * asks every second. Without scripts the form posts and the page shows the result on reload.
 */

type Outcome = 'waiting' | 'approved' | 'declined' | 'expired' | 'failed';

const WORDS: Record<Outcome, string> = {
  waiting: 'Waiting for your phone to approve…',
  approved: 'Payment approved on your phone.',
  declined: 'Payment declined on your phone.',
  expired: 'The payment expired: nobody answered on the phone.',
  failed: 'Could not ask the phone: ',
};

function paymentForm(form: HTMLFormElement, out: HTMLElement): void {
  let tid = out.getAttribute('data-tid') || '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  function show(outcome: Outcome, extra?: string): void {
    out.setAttribute('data-outcome', outcome);
    out.textContent = WORDS[outcome] + (extra || '');
  }
  function poll(): void {
    clearTimeout(timer);
    if (!tid) return;
    const asked = tid;
    fetch(`/demo/site/pay/${encodeURIComponent(tid)}`, { credentials: 'same-origin', cache: 'no-store' })
      .then((r) => (r.ok ? (r.json() as Promise<{ outcome: Outcome }>) : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((r) => {
        if (asked !== tid) return;
        if (r.outcome === 'waiting') timer = setTimeout(poll, 1000);
        show(r.outcome);
      })
      .catch(() => {
        if (asked === tid) timer = setTimeout(poll, 2000);
      });
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (button) button.disabled = true;
    const body = new URLSearchParams(new FormData(form) as unknown as Record<string, string>).toString();
    void fetch(form.action, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body })
      .then((r) => r.json() as Promise<{ tid?: string; message?: string }>)
      .then((r) => {
        if (!r.tid) return show('failed', r.message || 'unknown error');
        tid = r.tid;
        out.setAttribute('data-tid', tid);
        try {
          history.replaceState(null, '', `/demo/site?tid=${encodeURIComponent(tid)}`);
        } catch {
          // a sandboxed frame may refuse: the page still works
        }
        show('waiting');
        poll();
      })
      .catch((err: unknown) => {
        show('failed', String(err && (err as Error).message));
      })
      .then(() => {
        if (button) button.disabled = false;
      });
  });
  document.addEventListener('nextauth', (e) => {
    const detail = (e as CustomEvent<{ event?: string } | null>).detail;
    if (detail && detail.event === 'transaction') poll();
  });
  if (tid && out.getAttribute('data-outcome') === 'waiting') poll();
}

const form = document.getElementById('pay');
const out = document.getElementById('payment-status');
if (form instanceof HTMLFormElement && out) paymentForm(form, out);
