// Small progressive enhancements; every page works without this file.

// The menu on a phone: a button that opens and closes it (Escape or a click elsewhere closes it,
// and the keyboard goes back to the button). Without this script the menu is always shown.
function setMenu(button, open) {
  button.setAttribute("aria-expanded", String(open));
  document.getElementById(button.getAttribute("aria-controls"))?.classList.toggle("open", open);
}
document.addEventListener("click", (event) => {
  const button = document.querySelector(".nav-toggle");
  if (!button) return;
  if (event.target.closest(".nav-toggle")) setMenu(button, button.getAttribute("aria-expanded") !== "true");
  else if (!event.target.closest("#site-nav")) setMenu(button, false);
});
document.addEventListener("keydown", (event) => {
  const button = document.querySelector(".nav-toggle[aria-expanded=true]");
  if (event.key !== "Escape" || !button) return;
  setMenu(button, false);
  button.focus();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const target = button.dataset.copy ? document.querySelector(button.dataset.copy) : null;
  const text = target ? (target.value ?? target.textContent) : button.dataset.copyText;
  navigator.clipboard?.writeText(text).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1500);
  });
});

// A file field that offers the example run's file: Remove drops it (the field asks for a file again if
// it must have one); choosing a file replaces it (the preview shows the new file instead).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-drop-example]");
  if (!button) return;
  const example = button.closest("[data-example-file]");
  const input = example?.closest(".dropzone")?.querySelector("input[type=file]");
  if (input && example.hasAttribute("data-required")) input.required = true;
  example?.remove();
  input?.focus();
});

// Before and after: the slider under an image made from an image uncovers the input over the output.
document.addEventListener("input", (event) => {
  const range = event.target.closest("input[data-compare]");
  range?.closest(".compare")?.querySelector(".compare-frame")?.style.setProperty("--split", `${range.value}%`);
});

// A running prediction, on its page or in the model page's output panel: append its output and logs
// as the stream delivers them. The stream replays from the first event, so the first event of each
// kind replaces the snapshot the server rendered; on `done` the stream is closed and htmx reloads
// the final body. Whatever replaces or removes the body also closes its stream.
function streamPrediction(body) {
  if (body.dataset.streaming) return;
  body.dataset.streaming = "1";
  const output = body.querySelector("[data-output]");
  const logs = body.querySelector("[data-logs]");
  const kind = body.dataset.kind;
  const fresh = new Set(["output", "logs"]);
  const source = new EventSource(body.dataset.stream);
  // The status panel polls each second; news from the stream makes it look again at once.
  const progress = () => document.getElementById("status")?.dispatchEvent(new Event("progress"));
  const start = (what, el) => {
    if (el && fresh.delete(what)) {
      el.replaceChildren();
      progress();
    }
    body.querySelector(".waiting")?.remove();
  };
  let leading = true;  // text is shown from its first visible character, as the server renders it
  source.addEventListener("output", (event) => {
    if (!output) return;
    start("output", output);
    if (kind === "text") {
      const text = leading ? event.data.trimStart() : event.data;
      leading = leading && !text;
      output.append(text);
    } else if (kind === "files") output.append(imageFigure(event.data));
  });
  source.addEventListener("logs", (event) => {
    if (!logs) return;
    start("logs", logs);
    logs.append(event.data + "\n");
    logs.scrollTop = logs.scrollHeight;
  });
  source.addEventListener("done", () => {
    source.close();
    progress();
  });
  const stop = (event) => {
    // htmx announces a swap it will not make too (a failed request): only a real one ends the stream.
    if (!event.detail.shouldSwap || !event.detail.target?.contains(body)) return;
    source.close();
    document.removeEventListener("htmx:beforeSwap", stop);
  };
  document.addEventListener("htmx:beforeSwap", stop);
}

function startStreams(root) {
  if (root.matches?.("[data-stream]")) streamPrediction(root);
  root.querySelectorAll?.("[data-stream]").forEach(streamPrediction);
}

// Only http(s) and raster data: images become links or sources; anything else stays text.
function safeUrl(url) {
  return /^https?:\/\//i.test(url) || /^data:image\/(png|jpeg|gif|webp|avif)[;,]/i.test(url);
}

function imageFigure(url) {
  if (!safeUrl(url)) return Object.assign(document.createElement("span"), { className: "mono", textContent: url });
  const name = new URL(url, location.href).pathname.split("/").pop();
  const figure = document.createElement("figure");
  const link = Object.assign(document.createElement("a"), { href: url, target: "_blank", rel: "noopener" });
  link.dataset.enlarge = "";
  link.append(Object.assign(document.createElement("img"), { src: url, alt: name }));
  const caption = document.createElement("figcaption");
  caption.append(Object.assign(document.createElement("a"), { href: url, download: "", textContent: `Download ${name}` }));
  figure.append(link, caption);
  return figure;
}

startStreams(document);
document.addEventListener("htmx:load", (event) => startStreams(event.detail.elt));

// A running prediction's elapsed time ticks smoothly between the status panel's polls. The server
// renders the seconds so far; the clock counts on from the earliest start that implies, so a poll
// never moves it back and the machine's own clock does not matter.
const runStarts = new Map();
let clockTimer = null;
function formatElapsed(ms) {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
function tickClocks() {
  const clocks = document.querySelectorAll("[data-elapsed]");
  if (!clocks.length) { clearInterval(clockTimer); clockTimer = null; return; }
  clocks.forEach((clock) => {
    const estimate = performance.now() - Number(clock.dataset.elapsed) * 1000;
    const start = Math.min(runStarts.get(clock.dataset.clock) ?? Infinity, estimate);
    runStarts.set(clock.dataset.clock, start);
    clock.textContent = formatElapsed(performance.now() - start);
  });
}
function startClocks() {
  if (!document.querySelector("[data-elapsed]")) return;
  tickClocks();
  clockTimer ??= setInterval(tickClocks, 100);
}
document.addEventListener("DOMContentLoaded", startClocks);
document.addEventListener("htmx:load", startClocks);

// Output images open in a lightbox; without this script the link opens the full image.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-enlarge]");
  const box = document.getElementById("lightbox");
  if (!link || !box?.showModal || event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  box.querySelector("img").src = link.href;
  box.showModal();
});
document.addEventListener("click", (event) => {
  if (event.target.id === "lightbox") event.target.close();  // a click on the backdrop
});

// Model page run form: range sliders beside number boxes, file drop zones with a preview.
function enhanceRunForm(root) {
  root.querySelectorAll("input[type=range][data-range-for]").forEach((slider) => {
    const box = document.getElementById(slider.dataset.rangeFor);
    if (!box || slider.dataset.enhanced) return;
    slider.dataset.enhanced = "1";
    slider.hidden = false;
    if (box.value !== "") slider.value = box.value;
    slider.addEventListener("input", () => { box.value = slider.value; });
    box.addEventListener("input", () => { if (box.value !== "") slider.value = box.value; });
  });
  root.querySelectorAll(".dropzone").forEach((zone) => {
    const input = zone.querySelector("input[type=file]");
    if (!input || zone.dataset.enhanced) return;
    zone.dataset.enhanced = "1";
    const preview = zone.querySelector(".file-preview");
    const show = () => {
      preview.replaceChildren(...Array.from(input.files).map((file) => {
        if (file.type.startsWith("image/")) {
          const img = document.createElement("img");
          img.src = URL.createObjectURL(file);
          img.alt = file.name;
          return img;
        }
        const name = document.createElement("span");
        name.textContent = `${file.name} (${Math.ceil(file.size / 1024)} KB)`;
        return name;
      }));
    };
    input.addEventListener("change", show);
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (!event.dataTransfer?.files.length) return;
      const files = new DataTransfer();
      const dropped = input.multiple ? Array.from(event.dataTransfer.files) : [event.dataTransfer.files[0]];
      dropped.forEach((file) => files.items.add(file));
      input.files = files.files;
      show();
    });
  });
}
document.addEventListener("DOMContentLoaded", () => enhanceRunForm(document));
document.addEventListener("htmx:load", (event) => enhanceRunForm(event.detail.elt));

// Uploads: refuse files over the server's limit at once, and show progress while a form with
// files is sent. Without JS the form posts normally and the server refuses big files the same way.
function formatBytes(n) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.maxBytes) return;
  const limit = Number(input.dataset.maxBytes);
  const big = [...input.files].find((f) => f.size > limit);
  const field = input.closest(".field");
  field?.querySelector(".errorlist.upload-limit")?.remove();
  if (!big) return;
  input.value = "";
  input.dispatchEvent(new Event("cogmill:cleared"));
  const errors = document.createElement("ul");
  errors.className = "errorlist upload-limit";
  errors.innerHTML = "<li></li>";
  errors.firstChild.textContent = `${big.name} is ${formatBytes(big.size)}; files may be at most ${formatBytes(limit)}.`;
  field?.classList.add("has-error");
  field?.append(errors);
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented) return;  // htmx sends it (and reports progress below)
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upload-progress")) return;
  const hasFiles = [...form.querySelectorAll("input[type=file]")].some((i) => i.files.length);
  if (!hasFiles) return;
  event.preventDefault();
  const bar = form.querySelector(".upload-progress");
  const button = form.querySelector("button[type=submit]");
  const xhr = new XMLHttpRequest();
  xhr.open(form.method, form.action);
  xhr.upload.addEventListener("progress", (e) => {
    if (bar && e.lengthComputable) { bar.hidden = false; bar.value = (100 * e.loaded) / e.total; }
  });
  xhr.addEventListener("load", () => {
    if (xhr.responseURL && xhr.responseURL !== new URL(form.action, location.href).href) {
      location.assign(xhr.responseURL); // the run was created: its page
    } else {
      document.open(); document.write(xhr.responseText); document.close(); // the form with its errors
    }
  });
  xhr.addEventListener("error", () => { if (button) button.disabled = false; if (bar) bar.hidden = true; });
  if (button) button.disabled = true;
  xhr.send(new FormData(form));
});

document.addEventListener("htmx:xhr:progress", (event) => {
  const bar = event.target.querySelector?.(".upload-progress");
  if (!bar || !event.detail.lengthComputable || !event.target.querySelector("input[type=file]")?.files.length) return;
  bar.hidden = false;
  bar.value = (100 * event.detail.loaded) / event.detail.total;
});
document.addEventListener("htmx:afterRequest", (event) => {
  const bar = event.target.querySelector?.(".upload-progress");
  if (bar) bar.hidden = true;
});

// On a phone the output panel is below the form: a run just started brings it into view.
document.addEventListener("htmx:afterSettle", (event) => {
  const panel = event.detail.elt;
  if (panel.id !== "run-output" || !window.matchMedia("(max-width: 900px)").matches) return;
  panel.scrollIntoView({ block: "start" });
});

// Ctrl+Enter (⌘+Enter on a Mac) in the run form runs the model.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  const form = event.target.closest?.("form[data-run-shortcut]");
  if (!form || form.querySelector("button[type=submit]")?.disabled) return;
  event.preventDefault();
  form.requestSubmit();
});

// A request from the page's script that failed (the server erred, or the network is down) says so
// where it was made, instead of doing nothing.
function requestFailed(event) {
  const form = event.target.closest?.("form");
  if (!form) return;
  form.querySelector(".request-failed")?.remove();
  const status = event.detail.xhr?.status;
  const note = Object.assign(document.createElement("div"), {
    className: "message error request-failed",
    textContent: status ? `That did not work (the server answered ${status}). Try again in a moment.`
                        : "The server could not be reached. Check the connection and try again.",
  });
  note.setAttribute("role", "alert");
  form.prepend(note);
}
document.addEventListener("htmx:responseError", requestFailed);
document.addEventListener("htmx:sendError", requestFailed);

// Training page: logs as they come, the progress bar and loss from `step N/TOTAL loss X` lines,
// the time since it was created; the page reloads with the result when the stream is done.
const PROGRESS_LINE = /^step (\d+)\/(\d+)(?:\s+loss\s+(\S+))?\s*$/;
function followTraining(panel) {
  const logs = document.querySelector("[data-training-logs]");
  const bar = document.getElementById("training-progress");
  const step = document.getElementById("training-step");
  const loss = document.getElementById("training-loss");
  const badge = document.getElementById("status-badge");
  const elapsed = document.getElementById("training-elapsed");
  let fresh = true;
  const created = Date.parse(panel.dataset.created);
  const tick = () => {
    if (!elapsed || Number.isNaN(created)) return;
    const s = Math.max(0, Math.round((Date.now() - created) / 1000));
    elapsed.textContent = s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  };
  tick();
  const timer = setInterval(tick, 1000);
  const source = new EventSource(panel.dataset.trainingStream);
  source.addEventListener("logs", (event) => {
    if (fresh) {  // the stream replays from the start: it replaces what the page was rendered with
      fresh = false;
      logs.replaceChildren();
      document.querySelector(".training-page .waiting")?.remove();
      if (badge.textContent.trim() === "queued") { badge.textContent = "processing"; badge.className = "badge processing status-badge"; }
    }
    logs.append(event.data + "\n");
    logs.scrollTop = logs.scrollHeight;
    for (const line of event.data.split("\n")) {
      const m = PROGRESS_LINE.exec(line.trim());
      if (!m) continue;
      bar.hidden = false;
      bar.value = Math.min(100, (100 * Number(m[1])) / Number(m[2]));
      step.textContent = `step ${m[1]} of ${m[2]}`;
      if (m[3]) loss.textContent = `loss ${m[3]}`;
    }
  });
  source.addEventListener("done", () => {
    source.close();
    clearInterval(timer);
    location.reload();
  });
}
document.querySelectorAll("[data-training-stream]").forEach(followTraining);

// A field shown only while another has a value: data-shown-when="<select id>=<value>".
function syncShownWhen(root) {
  root.querySelectorAll("[data-shown-when]").forEach((el) => {
    const [id, value] = el.dataset.shownWhen.split("=");
    const control = document.getElementById(id);
    if (!control) return;
    const sync = () => { el.hidden = control.value !== value; };
    if (!el.dataset.enhanced) { el.dataset.enhanced = "1"; control.addEventListener("change", sync); }
    sync();
  });
}
document.addEventListener("DOMContentLoaded", () => syncShownWhen(document));
document.addEventListener("htmx:load", (event) => syncShownWhen(event.detail.elt));

// Tabs inside a page (the API tab's languages): without this script every panel shows, one under the
// other. With it, one at a time, chosen by click or arrow keys; the language is remembered.
function enhanceTabs(root) {
  root.querySelectorAll("[data-tabs]").forEach((box) => {
    if (box.dataset.enhanced) return;
    box.dataset.enhanced = "1";
    const list = box.querySelector("[role=tablist]");
    const tabs = [...list.querySelectorAll("[role=tab]")];
    const select = (tab, focus) => {
      tabs.forEach((t) => {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
      try { localStorage.setItem("cogmill:lang", tab.dataset.lang); } catch { /* private mode */ }
    };
    list.hidden = false;
    box.classList.add("tabbed");
    let saved = null;
    try { saved = localStorage.getItem("cogmill:lang"); } catch { /* private mode */ }
    select(tabs.find((t) => t.dataset.lang === saved) || tabs[0], false);
    list.addEventListener("click", (event) => {
      const tab = event.target.closest("[role=tab]");
      if (tab) select(tab, true);
    });
    list.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(document.activeElement);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (at < 0 || next === undefined) return;
      event.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  });
}
document.addEventListener("DOMContentLoaded", () => enhanceTabs(document));
document.addEventListener("htmx:load", (event) => enhanceTabs(event.detail.elt));

// Required inputs of a run form are checked here before anything is sent, and said as the server
// says them; the server checks again (and everything else) on its own.
function markMissing(input) {
  const field = input.closest(".field");
  if (!field || field.querySelector(".errorlist.required-missing")) return;
  const errors = document.createElement("ul");
  errors.className = "errorlist required-missing";
  errors.id = `${input.id}_missing`;
  errors.append(Object.assign(document.createElement("li"), { textContent: "This field is required." }));
  field.classList.add("has-error");
  field.append(errors);
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${errors.id}`.trim());
}
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("run-form")) return;
  const missing = [...form.querySelectorAll("input[required], textarea[required], select[required]")].filter((input) =>
    !input.closest("[hidden]") && input.type !== "checkbox" && input.type !== "radio"
    && (input.type === "file" ? !input.files.length : input.value === ""));
  if (!missing.length) return;
  event.preventDefault();
  event.stopImmediatePropagation();  // nor htmx nor the upload sends it
  missing.forEach(markMissing);
  missing[0].focus();
}, true);
document.addEventListener("input", (event) => {
  const field = event.target.closest?.(".field");
  const note = field?.querySelector(".errorlist.required-missing");
  if (!note || event.target.value === "") return;
  note.remove();
  field.classList.remove("has-error");
  event.target.removeAttribute("aria-invalid");
});

// A form that came back with errors: focus goes to the first field that has one, so a keyboard or
// screen-reader user lands where the problem is.
function focusFirstError(root) {
  const field = root.querySelector('[aria-invalid="true"]');  // Django marks each field with an error
  if (field) field.focus();
}
document.addEventListener("DOMContentLoaded", () => focusFirstError(document));
document.addEventListener("htmx:load", (event) => focusFirstError(event.detail.elt));

// Filters that take a phone's whole screen start folded there, unless some are in use.
function foldOnPhone(root) {
  if (!window.matchMedia("(max-width: 600px)").matches) return;
  root.querySelectorAll("details.collapse-narrow:not([data-keep-open])").forEach((d) => { d.open = false; });
}
document.addEventListener("DOMContentLoaded", () => foldOnPhone(document));
document.addEventListener("htmx:load", (event) => foldOnPhone(event.detail.elt));
