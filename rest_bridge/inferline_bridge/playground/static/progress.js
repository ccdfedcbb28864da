// A busy indicator for requests that report no progress of their own: an indeterminate
// progress bar and the seconds elapsed, and the form's button disabled meanwhile.

const $ = (id) => document.getElementById(id);

/** Show ``prefix``-progress while ``work`` runs; errors go to ``prefix``-error. */
export async function busy(prefix, button, work) {
  const box = $(`${prefix}-progress`);
  const elapsed = $(`${prefix}-elapsed`);
  const started = performance.now();
  const tick = () => {
    elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  };
  tick();
  const timer = setInterval(tick, 100);
  box.hidden = false;
  $(`panel-${prefix}`).setAttribute("aria-busy", "true");
  $(button).disabled = true;
  $(`${prefix}-error`).textContent = "";
  try {
    return await work();
  } catch (error) {
    $(`${prefix}-error`).textContent = error.message;
    return undefined;
  } finally {
    clearInterval(timer);
    box.hidden = true;
    $(`panel-${prefix}`).removeAttribute("aria-busy");
    $(button).disabled = false;
  }
}

/** Seconds as m:ss.s for timestamps. */
export function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = (seconds - minutes * 60).toFixed(1).padStart(4, "0");
  return `${minutes}:${rest}`;
}
