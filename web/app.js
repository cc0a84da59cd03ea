// cameo's timeline page: a thin view over the read-only HTTP API (docs/openapi.json), like the
// CLI, so the two cannot disagree. Three views, chosen by the URL's hash:
//   #/?status=S          the video list, newest upload first, filtered by status
//   #/video/<video_id>   one swimlane per celebrity, the player, the exports
//   #/celebrity/<id>     the videos a celebrity appears in
"use strict";

(() => {
  const API = ((window.CAMEO_CONFIG || {}).apiUrl || "").replace(/\/+$/, "");
  const view = document.getElementById("view");
  const tooltip = document.getElementById("tooltip");
  const PAGE_SIZE = 25;
  // At least 3:1 against the lanes' white (WCAG 1.4.11, non-text contrast); the browser test
  // checks the text colours, these are chosen dark enough to carry white text too.
  const PALETTE = ["#0b62a4", "#b4460b", "#15803d", "#7e22ce", "#b91c1c", "#0e7490",
    "#8a5a00", "#be185d", "#4d7c0f", "#475569"];
  const STATUS_LABELS = {
    QUEUED: "queued", STARTING: "starting", SUBMITTED: "processing", SUCCEEDED: "succeeded",
    FAILED: "failed", REJECTED: "rejected", ERASED: "erased",
  };
  const ZOOMS = [1, 2, 4, 8, 16, 32, 64];
  const TICK_STEPS_S = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const MIN_TICK_PX = 80;
  // The timeline on screen, if any: one resize listener for the page redraws it (a listener per
  // timeline would keep every video opened since alive).
  let shownTimeline = null;
  window.addEventListener("resize", () => { if (shownTimeline) shownTimeline.onResize(); });

  // -- helpers -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    const response = await fetch(API + path, { headers: { accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (body && body.error) || {};
      throw new ApiError(response.status, error.code || "Error", error.message || response.statusText);
    }
    return body;
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") Object.assign(node.style, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // 61500 -> "1:01.5"; 3723000 -> "1:02:03.0". Tenths: detections are at least 40 ms apart.
  function clock(ms) {
    if (ms === null || ms === undefined) return "–";
    const tenths = Math.round(ms / 100);
    const s = Math.floor(tenths / 10);
    const frac = tenths % 10;
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    const seconds = String(s % 60).padStart(2, "0");
    const head = hours ? `${hours}:${String(minutes).padStart(2, "0")}` : String(minutes);
    return `${head}:${seconds}.${frac}`;
  }

  function seconds(ms) {
    if (ms === null || ms === undefined) return "–";
    const s = ms / 1000;
    return s < 60 ? `${s.toFixed(1)} s` : clock(ms);
  }

  // A wait, as a person says it: "40 s", "12 min", "3 h 5 min", "34 days".
  function waited(s) {
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
    return plural(Math.floor(s / 86400), "day");
  }

  const number = (value) => String(Number(value.toFixed(2)));
  const confidence = (value) => (value === null || value === undefined ? "–" : `${number(value)} %`);
  const percent = (share) => (share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)} %`);
  const plural = (n, word, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;
  const link = (url) => (/^https?:\/\//i.test(url) ? url : `https://${url}`);
  const videoHref = (id) => `#/video/${encodeURIComponent(id)}`;
  const celebrityHref = (id) => `#/celebrity/${encodeURIComponent(id)}`;
  const exportUrl = (id, ext) => `${API}/videos/${encodeURIComponent(id)}/appearances.${ext}`;

  function when(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function waitText(detail) {
    const parts = [];
    if (detail.queue_position !== null && detail.queue_position !== undefined) {
      parts.push(detail.queue_position === 0 ? "next in line" : `${plural(detail.queue_position, "upload")} ahead`);
    }
    if (detail.waited_seconds !== null && detail.waited_seconds !== undefined) {
      parts.push(`waiting ${waited(detail.waited_seconds)}`);
    }
    return parts.join(", ");
  }

  function statusBadge(status) {
    const label = STATUS_LABELS[status] || (status || "unknown").toLowerCase();
    return h("span", { class: `badge badge-${(status || "unknown").toLowerCase()}` }, label);
  }

  function errorBox(error) {
    const text = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    return h("p", { class: "error", role: "alert" }, text);
  }

  function show(title, ...nodes) {
    hideTooltip();
    shownTimeline = null;
    document.title = title ? `${title} · cameo` : "cameo";
    view.replaceChildren(...nodes);
  }

  // -- the video list ------------------------------------------------------------------------

  async function listView(params) {
    const status = params.get("status") || "";
    const select = h("select", { id: "status-filter", name: "status" },
      h("option", { value: "" }, "all"),
      Object.entries(STATUS_LABELS).map(([value, label]) =>
        h("option", { value, selected: value === status }, label)));
    select.addEventListener("change", () => {
      location.hash = select.value ? `#/?status=${select.value}` : "#/";
    });
    const body = h("tbody");
    const table = h("table", { class: "videos", "aria-busy": "true" },
      h("caption", {}, status ? `Videos ${STATUS_LABELS[status]}, newest upload first`
        : "Videos, newest upload first"),
      h("thead", {}, h("tr", {},
        ["Video", "Status", "Duration", "Cast", "Appearances", "Uploaded"].map((c) =>
          h("th", { scope: "col" }, c)))),
      body);
    const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
    show("Videos",
      h("section", { class: "panel" },
        h("div", { class: "toolbar" },
          h("h1", {}, "Videos"),
          h("label", { for: "status-filter" }, "Status "), select,
          celebritySearch()),
        table, more));

    let token = null;
    async function load() {
      more.hidden = true;
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (status) query.set("status", status);
      if (token) query.set("next_token", token);
      try {
        const page = await api(`/videos?${query}`);
        for (const video of page.videos) body.append(videoRow(video));
        if (!body.children.length) {
          body.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No videos.")));
        }
        token = page.next_token;
        more.hidden = !token;
      } catch (error) {
        table.after(errorBox(error));
      }
      table.setAttribute("aria-busy", "false");
    }
    more.addEventListener("click", load);
    await load();
  }

  function videoRow(video) {
    const state = h("td", { class: "status" }, statusBadge(video.status));
    if (video.reason && video.status !== "SUCCEEDED") state.append(h("span", { class: "reason" }, video.reason));
    if (video.status === "QUEUED") {
      // The list has no queue figures; each queued video's record has them.
      const wait = h("span", { class: "reason" }, "…");
      state.append(wait);
      api(`/videos/${encodeURIComponent(video.video_id)}`)
        .then((detail) => { wait.textContent = waitText(detail); })
        .catch(() => { wait.textContent = ""; });
    }
    return h("tr", { dataset: { status: video.status || "" } },
      h("td", { class: "key" }, h("a", { href: videoHref(video.video_id), title: video.uri }, video.key)),
      state,
      h("td", { class: "num" }, video.duration_ms === null ? "–" : clock(video.duration_ms)),
      h("td", { class: "num" }, video.celebrity_count ?? "–"),
      h("td", { class: "num" }, video.appearance_count ?? "–"),
      h("td", {}, when(video.uploaded_at)));
  }

  function celebritySearch() {
    const input = h("input", { id: "celebrity-name", type: "search", placeholder: "Barack Obama" });
    const results = h("ul", { class: "found", "aria-live": "polite" });
    const form = h("form", { class: "search", role: "search" },
      h("label", { for: "celebrity-name" }, "Find a celebrity "), input,
      h("button", { type: "submit" }, "Find"), results);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      results.replaceChildren();
      if (!input.value.trim()) return;
      try {
        const found = await api(`/celebrities?name=${encodeURIComponent(input.value.trim())}`);
        for (const c of found.celebrities) {
          results.append(h("li", {}, h("a", { href: celebrityHref(c.celebrity_id) }, c.name),
            ` ${plural(c.videos, "video")}, ${seconds(c.total_screen_time_ms)}`));
        }
      } catch (error) {
        results.append(h("li", {}, error instanceof ApiError && error.status === 404
          ? `Nobody called ${input.value.trim()} appears in a finished video.` : String(error.message)));
      }
    });
    return form;
  }

  // -- one video -----------------------------------------------------------------------------

  async function videoView(id) {
    show("Video", h("p", { class: "loading" }, "Loading…"));
    let detail;
    try {
      detail = await api(`/videos/${encodeURIComponent(id)}`);
    } catch (error) {
      show("Video", backLink(), errorBox(error));
      return;
    }
    const header = h("section", { class: "panel video-head" },
      backLink(),
      h("h1", {}, detail.key),
      h("p", { class: "meta" }, statusBadge(detail.status), " ",
        detail.status === "QUEUED" ? waitText(detail) : detail.reason || "",
        ` · ${detail.uri} · runtime ${detail.duration_ms === null ? "unknown" : clock(detail.duration_ms)}`));
    if (detail.status !== "SUCCEEDED") {
      show(detail.key, header, h("p", { class: "panel" },
        "There is no timeline: only a finished, successful analysis has one."));
      return;
    }
    let cast;
    let media = null;
    try {
      [cast, media] = await Promise.all([
        api(`/videos/${encodeURIComponent(id)}/cast`),
        api(`/videos/${encodeURIComponent(id)}/media`).catch(() => null),
      ]);
    } catch (error) {
      show(detail.key, header, errorBox(error));
      return;
    }
    header.append(h("p", { class: "exports" }, "Export: ",
      h("a", { href: exportUrl(id, "vtt"), download: "" }, "WebVTT (.vtt)"), " · ",
      h("a", { href: exportUrl(id, "csv"), download: "" }, "CSV (.csv)"), " · ",
      h("a", { href: `${API}/videos/${encodeURIComponent(id)}/appearances` }, "JSON")));
    const timeline = new Timeline(id, detail, cast, media);
    show(detail.key, header, timeline.root);
    shownTimeline = timeline;
    await timeline.load();
  }

  function backLink() {
    return h("a", { class: "back", href: "#/" }, "← All videos");
  }

  // One swimlane per celebrity (legend order: screen time), bars at exact fractions of the
  // time axis, so a bar's left edge is at track.left + (start - from) / span * track.width.
  class Timeline {
    constructor(id, detail, cast, media) {
      this.id = id;
      this.cast = [...cast.cast].sort((a, b) => b.screen_time_ms - a.screen_time_ms
        || a.celebrity_id.localeCompare(b.celebrity_id));
      // Unknown runtime (no metadata): the axis ends with the last appearance.
      const lastSeen = Math.max(0, ...this.cast.map((m) => m.last_seen_ms || 0));
      this.duration = cast.duration_ms || detail.duration_ms || lastSeen;
      this.colours = new Map(this.cast.map((m, i) => [m.celebrity_id, PALETTE[i % PALETTE.length]]));
      this.zoom = 1;
      this.minConfidence = 0;
      this.appearances = [];
      this.selected = null;
      this.build(media);
    }

    build(media) {
      const zoomOut = h("button", { type: "button", "aria-label": "Zoom out", title: "Zoom out (−)" }, "−");
      const zoomIn = h("button", { type: "button", "aria-label": "Zoom in", title: "Zoom in (+)" }, "+");
      this.zoomLabel = h("output", { id: "zoom-level", "aria-live": "polite" }, "1×");
      zoomOut.addEventListener("click", () => this.setZoom(this.zoom / 2));
      zoomIn.addEventListener("click", () => this.setZoom(this.zoom * 2));
      this.slider = h("input", { id: "min-confidence", type: "range", min: 0, max: 100, step: 0.5, value: 0 });
      this.sliderValue = h("output", { for: "min-confidence" }, "0 %");
      let pending = null;
      this.slider.addEventListener("input", () => {
        this.sliderValue.textContent = `${number(Number(this.slider.value))} %`;
        clearTimeout(pending);
        pending = setTimeout(() => this.setMinConfidence(Number(this.slider.value)), 150);
      });

      this.labels = h("div", { class: "lane-labels" }, h("div", { class: "axis-spacer" }, "Time"));
      this.axis = h("div", { class: "axis", "aria-hidden": "true" });
      this.inner = h("div", { class: "tracks-inner" }, this.axis);
      this.playhead = h("div", { class: "playhead", hidden: true, "aria-hidden": "true" });
      this.inner.append(this.playhead);
      this.scroller = h("div", { class: "tracks", tabindex: -1 }, this.inner);
      this.tracks = new Map();
      for (const member of this.cast) {
        const colour = this.colours.get(member.celebrity_id);
        this.labels.append(h("div", { class: "lane-label" },
          h("span", { class: "swatch", style: { background: colour }, "aria-hidden": "true" }),
          h("a", { href: celebrityHref(member.celebrity_id) }, member.name)));
        const track = h("div", {
          class: "lane", role: "group", dataset: { celebrityId: member.celebrity_id },
          "aria-label": `${member.name}: ${plural(member.appearances, "appearance")}, ${seconds(member.screen_time_ms)} on screen`,
        });
        track.addEventListener("click", (event) => {
          if (event.target === track) this.seekTo(this.msAt(event.clientX, track));
        });
        this.tracks.set(member.celebrity_id, track);
        this.inner.append(track);
      }
      this.inner.addEventListener("keydown", (event) => this.onKey(event));

      const swimlanes = h("div", { class: "swimlanes" }, this.labels, this.scroller);
      this.summary = h("p", { class: "summary" });
      this.details = h("div", { class: "details", "aria-live": "polite" },
        h("p", { class: "hint" }, "Select a bar (click, or Tab then Enter) to seek the player and see its details."));

      // The timeline across the page; under it the player, and the legend with the details.
      this.root = h("div", { class: "video-body" },
        h("section", { class: "panel timeline", "aria-labelledby": "timeline-title" },
          h("div", { class: "toolbar" },
            h("h2", { id: "timeline-title" }, "Timeline"),
            h("span", { class: "group" }, "Zoom ", zoomOut, this.zoomLabel, zoomIn),
            h("span", { class: "group" },
              h("label", { for: "min-confidence" }, "Min. confidence "), this.slider, this.sliderValue)),
          this.cast.length ? swimlanes : h("p", { class: "empty" }, "Nobody was recognised in this video."),
          this.summary,
          h("p", { class: "keys" }, "Keys on a bar: ←/→ previous/next appearance, ↑/↓ other celebrity, "
            + "Home/End, Enter to seek, +/− to zoom.")),
        this.playerPanel(media),
        h("div", { class: "side" }, this.legend(),
          h("section", { class: "panel" }, this.details)));
      this.renderAxis();
    }

    onResize() {
      this.renderAxis();
      this.drawBox();
    }

    legend() {
      return h("section", { class: "panel legend", "aria-labelledby": "legend-title" },
        h("h2", { id: "legend-title" }, "Cast, by screen time"),
        h("table", {},
          h("thead", {}, h("tr", {}, ["Celebrity", "Screen time", "Share of runtime", "Seen"].map((c) =>
            h("th", { scope: "col" }, c)))),
          h("tbody", {}, this.cast.map((m) => h("tr", { dataset: { celebrityId: m.celebrity_id } },
            h("td", {}, h("span", { class: "swatch", style: { background: this.colours.get(m.celebrity_id) }, "aria-hidden": "true" }),
              h("a", { href: celebrityHref(m.celebrity_id) }, m.name)),
            h("td", { class: "num" }, seconds(m.screen_time_ms)),
            h("td", { class: "num" }, percent(m.share_of_runtime)),
            h("td", {}, `${clock(m.first_seen_ms)}–${clock(m.last_seen_ms)}`))))));
    }

    playerPanel(media) {
      if (!media) {
        return h("section", { class: "panel player" },
          h("p", { class: "empty" }, "The video cannot be played from here (no media URL)."));
      }
      this.video = h("video", { controls: true, preload: "metadata", src: media.url, id: "player" });
      if (!API) {
        // Same origin as the API, so the cues load without CORS: the whole cast, then one
        // track per celebrity (the player's captions menu), one cue per appearance.
        const vtt = exportUrl(this.id, "vtt");
        this.video.append(h("track", { kind: "captions", label: "Cast", srclang: "en", src: vtt }),
          ...this.cast.map((m) => h("track", {
            kind: "captions", label: m.name, srclang: "en",
            src: `${vtt}?celebrity_id=${encodeURIComponent(m.celebrity_id)}`,
          })));
      }
      this.box = h("div", { class: "facebox", hidden: true }, h("span", { class: "facebox-label" }));
      this.onScreen = h("p", { class: "on-screen", "aria-live": "polite" });
      this.video.addEventListener("timeupdate", () => this.onTime());
      this.video.addEventListener("seeked", () => { this.onTime(); this.whoIsOnScreen(); });
      this.video.addEventListener("pause", () => this.whoIsOnScreen());
      this.video.addEventListener("loadedmetadata", () => this.drawBox());
      return h("section", { class: "panel player" },
        h("div", { class: "player-wrap" }, this.video, this.box), this.onScreen);
    }

    // GET /videos/{id}/at/{ms}, when the player stops somewhere: the API's answer, not ours.
    async whoIsOnScreen() {
      const ms = Math.floor(this.video.currentTime * 1000);
      try {
        const answer = await api(`/videos/${encodeURIComponent(this.id)}/at/${ms}`);
        if (Math.floor(this.video.currentTime * 1000) !== ms) return;  // moved on since
        const names = [...new Set(answer.on_screen.map((a) => a.name))];
        this.onScreen.textContent = `At ${clock(ms)}: ${names.length ? names.join(", ") : "nobody recognised"}.`;
      } catch (error) {
        this.onScreen.textContent = "";
      }
    }

    async load() {
      const query = this.minConfidence > 0 ? `?min_confidence=${this.minConfidence}` : "";
      // Answers can arrive out of order (a slow 0 % after a quick 90 %): only the newest counts.
      const request = (this.requests = (this.requests || 0) + 1);
      let timeline;
      try {
        timeline = await api(`/videos/${encodeURIComponent(this.id)}/appearances${query}`);
      } catch (error) {
        if (request === this.requests) this.summary.replaceChildren(errorBox(error));
        return;
      }
      if (request !== this.requests) return;
      this.appearances = timeline.appearances;
      this.renderBars();
    }

    setMinConfidence(value) {
      this.minConfidence = value;
      this.load();
    }

    renderBars() {
      const focusedKey = document.activeElement && document.activeElement.dataset
        ? document.activeElement.dataset.key : null;
      for (const track of this.tracks.values()) track.replaceChildren();
      const span = this.duration || 1;
      let first = true;
      const lanes = new Map();
      for (const a of this.appearances) {
        const track = this.tracks.get(a.celebrity_id);
        if (!track) continue;
        const key = `${a.celebrity_id}@${a.start_ms}`;
        const bar = h("div", {
          class: "bar", role: "button", tabindex: first ? 0 : -1,
          dataset: { key, celebrityId: a.celebrity_id, startMs: a.start_ms, endMs: a.end_ms },
          style: {
            left: `${(a.start_ms / span) * 100}%`,
            width: `${(Math.max(a.end_ms - a.start_ms, 0) / span) * 100}%`,
            background: this.colours.get(a.celebrity_id),
          },
          "aria-label": `${a.name}, ${clock(a.start_ms)} to ${clock(a.end_ms)}, ${seconds(a.duration_ms)}, `
            + `${plural(a.detections, "detection")}, best confidence ${confidence(a.confidence)}`,
        });
        first = false;
        bar.appearance = a;
        bar.addEventListener("mouseenter", () => showTooltip(bar, a));
        bar.addEventListener("mouseleave", hideTooltip);
        bar.addEventListener("focus", () => showTooltip(bar, a));
        bar.addEventListener("blur", hideTooltip);
        bar.addEventListener("click", () => this.select(bar));
        track.append(bar);
        lanes.set(a.celebrity_id, (lanes.get(a.celebrity_id) || 0) + 1);
      }
      for (const [cid, track] of this.tracks) {
        if (!lanes.get(cid)) {
          track.append(h("span", { class: "lane-empty" }, `none at ≥ ${number(this.minConfidence)} %`));
        }
      }
      const shown = this.appearances.length;
      const total = this.cast.reduce((sum, m) => sum + m.appearances, 0);
      const onScreen = this.cast.reduce((sum, m) => sum + m.screen_time_ms, 0);
      this.summary.textContent = `${plural(this.cast.length, "celebrity", "celebrities")}; `
        + `${shown} of ${plural(total, "appearance")} shown (best detection ≥ ${number(this.minConfidence)} %). `
        + `Screen time summed over the cast: ${seconds(onScreen)}, `
        + `${this.duration ? percent(onScreen / this.duration) : "–"} of the ${clock(this.duration)} runtime.`;
      const again = focusedKey && this.inner.querySelector(`.bar[data-key="${CSS.escape(focusedKey)}"]`);
      if (again) this.focusBar(again);
    }

    bars(track) {
      return [...track.querySelectorAll(".bar")];
    }

    focusBar(bar) {
      for (const other of this.inner.querySelectorAll(".bar[tabindex='0']")) other.tabIndex = -1;
      bar.tabIndex = 0;
      bar.focus();
      const scroller = this.scroller.getBoundingClientRect();
      const box = bar.getBoundingClientRect();
      if (box.left < scroller.left || box.right > scroller.right) {
        this.scroller.scrollLeft += box.left - scroller.left - scroller.width / 3;
      }
    }

    onKey(event) {
      const bar = event.target.closest && event.target.closest(".bar");
      if (event.key === "+" || event.key === "=") { this.setZoom(this.zoom * 2); event.preventDefault(); return; }
      if (event.key === "-" || event.key === "_") { this.setZoom(this.zoom / 2); event.preventDefault(); return; }
      if (!bar) return;
      const lanes = [...this.tracks.values()].filter((t) => this.bars(t).length);
      const lane = bar.parentElement;
      const inLane = this.bars(lane);
      const index = inLane.indexOf(bar);
      let next = null;
      switch (event.key) {
        case "ArrowRight": next = inLane[index + 1]; break;
        case "ArrowLeft": next = inLane[index - 1]; break;
        case "Home": next = inLane[0]; break;
        case "End": next = inLane[inLane.length - 1]; break;
        case "ArrowDown":
        case "ArrowUp": {
          const other = lanes[lanes.indexOf(lane) + (event.key === "ArrowDown" ? 1 : -1)];
          if (other) {
            // The bar of that lane nearest in time to this one.
            const start = bar.appearance.start_ms;
            next = this.bars(other).reduce((best, b) =>
              Math.abs(b.appearance.start_ms - start) < Math.abs(best.appearance.start_ms - start) ? b : best);
          }
          break;
        }
        case "Enter":
        case " ":
          this.select(bar);
          event.preventDefault();
          return;
        default:
          return;
      }
      event.preventDefault();
      if (next) this.focusBar(next);
    }

    setZoom(zoom) {
      const clamped = Math.min(Math.max(zoom, ZOOMS[0]), ZOOMS[ZOOMS.length - 1]);
      if (clamped === this.zoom) return;
      // Keep the middle of the visible window in the middle.
      const middle = (this.scroller.scrollLeft + this.scroller.clientWidth / 2) / this.inner.offsetWidth;
      this.zoom = clamped;
      this.inner.style.width = `${clamped * 100}%`;
      this.zoomLabel.textContent = `${clamped}×`;
      this.scroller.scrollLeft = middle * this.inner.offsetWidth - this.scroller.clientWidth / 2;
      this.renderAxis();
      const active = document.activeElement;
      if (active && active.classList.contains("bar")) this.focusBar(active);  // keep it in view
    }

    renderAxis() {
      const width = this.inner.offsetWidth || 800;
      const span = this.duration || 1;
      const pxPerS = width / (span / 1000);
      const step = TICK_STEPS_S.find((s) => s * pxPerS >= MIN_TICK_PX) || TICK_STEPS_S[TICK_STEPS_S.length - 1];
      const ticks = [];
      for (let t = 0; t * 1000 <= span + 1e-6; t += step) {
        const ms = Math.round(t * 1000);
        ticks.push(h("span", { class: "tick", style: { left: `${(ms / span) * 100}%` } },
          step < 1 ? clock(ms) : clock(ms).replace(/\.\d$/, "")));
      }
      this.axis.replaceChildren(...ticks);
    }

    msAt(clientX, track) {
      const box = track.getBoundingClientRect();
      return Math.max(0, Math.min(1, (clientX - box.left) / box.width)) * this.duration;
    }

    seekTo(ms) {
      if (!this.video) return;
      this.video.currentTime = ms / 1000;
    }

    select(bar) {
      const a = bar.appearance;
      for (const other of this.inner.querySelectorAll(".bar.selected")) other.classList.remove("selected");
      bar.classList.add("selected");
      this.selected = a;
      this.focusBar(bar);
      this.details.replaceChildren(
        h("h2", {}, a.name),
        describe(a),
        h("p", {}, h("a", { href: celebrityHref(a.celebrity_id) }, `Every video with ${a.name} →`)));
      if (this.video) {
        this.video.currentTime = a.start_ms / 1000;
        this.drawBox();
      }
    }

    onTime() {
      if (!this.video) return;
      const ms = this.video.currentTime * 1000;
      this.playhead.hidden = false;
      this.playhead.style.left = `${(ms / (this.duration || 1)) * 100}%`;
      this.drawBox();
    }

    // The appearance's best face box, over the picture (letterboxing included), while the
    // player is inside that appearance.
    drawBox() {
      if (!this.video || !this.box) return;
      const a = this.selected;
      const ms = this.video.currentTime * 1000;
      if (!a || !a.box || ms < a.start_ms - 250 || ms > a.end_ms + 250) {
        this.box.hidden = true;
        return;
      }
      const w = this.video.clientWidth;
      const hgt = this.video.clientHeight;
      const vw = this.video.videoWidth || w;
      const vh = this.video.videoHeight || hgt;
      const scale = Math.min(w / vw, hgt / vh);
      const left = (w - vw * scale) / 2 + this.video.offsetLeft;
      const top = (hgt - vh * scale) / 2 + this.video.offsetTop;
      Object.assign(this.box.style, {
        left: `${left + a.box.left * vw * scale}px`,
        top: `${top + a.box.top * vh * scale}px`,
        width: `${a.box.width * vw * scale}px`,
        height: `${a.box.height * vh * scale}px`,
        borderColor: this.colours.get(a.celebrity_id),
      });
      const label = this.box.firstChild;
      label.textContent = `${a.name} (${number(a.confidence ?? 0)})`;
      label.style.background = this.colours.get(a.celebrity_id);
      this.box.hidden = false;
    }
  }

  function describe(a) {
    const rows = [
      ["From", clock(a.start_ms)], ["To", clock(a.end_ms)], ["Duration", seconds(a.duration_ms)],
      ["Detections", String(a.detections)], ["Best confidence", confidence(a.confidence)],
      ["Mean confidence", confidence(a.mean_confidence)],
    ];
    const list = h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    list.append(h("dt", {}, "Urls"), h("dd", {}, a.urls.length
      ? a.urls.map((u, i) => [i ? ", " : "", h("a", { href: link(u), rel: "noopener noreferrer", target: "_blank" }, u)])
      : "none"));
    return list;
  }

  function showTooltip(bar, a) {
    tooltip.replaceChildren(h("strong", {}, a.name), describe(a));
    tooltip.hidden = false;
    // Beside the bar, level with its lane: over the timeline's own width, not the player below.
    const box = bar.getBoundingClientRect();
    const tip = tooltip.getBoundingClientRect();
    const right = box.right + 12 + tip.width < window.innerWidth - 8;
    const x = right ? box.right + 12 : Math.max(8, box.left - 12 - tip.width);
    const y = Math.min(Math.max(8, box.top + box.height / 2 - tip.height / 2), window.innerHeight - tip.height - 8);
    tooltip.style.left = `${x + window.scrollX}px`;
    tooltip.style.top = `${y + window.scrollY}px`;
    bar.setAttribute("aria-describedby", "tooltip");
  }

  function hideTooltip() {
    tooltip.hidden = true;
  }

  // -- one celebrity -------------------------------------------------------------------------

  async function celebrityView(id) {
    show("Celebrity", h("p", { class: "loading" }, "Loading…"));
    let answer;
    try {
      answer = await api(`/celebrities/${encodeURIComponent(id)}/videos`);
    } catch (error) {
      show("Celebrity", backLink(), errorBox(error));
      return;
    }
    show(answer.name, h("section", { class: "panel" },
      backLink(),
      h("h1", {}, answer.name),
      h("p", { class: "meta" }, `${plural(answer.videos.length, "video")}, ${seconds(answer.total_screen_time_ms)} on screen in all`),
      h("table", { class: "celebrity-videos" },
        h("caption", {}, `Videos with ${answer.name}`),
        h("thead", {}, h("tr", {}, ["Video", "Screen time", "Share of runtime", "Appearances", "Seen", "Best confidence"]
          .map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, answer.videos.map((v) => h("tr", {},
          h("td", { class: "key" }, h("a", { href: videoHref(v.video_id), title: v.uri }, v.uri)),
          h("td", { class: "num" }, seconds(v.screen_time_ms)),
          h("td", { class: "num" }, percent(v.share_of_runtime)),
          h("td", { class: "num" }, v.appearances),
          h("td", {}, `${clock(v.first_seen_ms)}–${clock(v.last_seen_ms)}`),
          h("td", { class: "num" }, confidence(v.best_confidence))))))));
  }

  // -- routing -------------------------------------------------------------------------------

  function route() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    const [kind, ...rest] = path.split("/");
    let id;
    try {
      id = decodeURIComponent(rest.join("/"));
    } catch (error) {  // e.g. #/video/%E0: say so rather than leave the page blank
      show("Not found", h("section", { class: "panel" }, backLink(),
        h("p", { class: "error", role: "alert" }, `This address is not valid: ${location.hash}`)));
      return null;
    }
    if (kind === "video" && id) return videoView(id);
    if (kind === "celebrity" && id) return celebrityView(id);
    return listView(new URLSearchParams(query || ""));
  }

  window.addEventListener("hashchange", () => {
    // Arrow keys on the closed status <select> change it (and so the hash): the re-rendered
    // list gets a new one, and the keyboard user keeps their place on it.
    const onFilter = document.activeElement && document.activeElement.id === "status-filter";
    route();
    const filter = onFilter && document.getElementById("status-filter");
    if (filter) filter.focus();
    else view.focus({ preventScroll: true });
  });
  route();
})();
