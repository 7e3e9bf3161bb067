// dfer serve's web page (src/Dfer.Cli/Serve/WebPage.cs): posts a video to the video endpoint
// (POST /v2/models/{name}/video, src/Dfer.Cli/Serve/VideoEndpoint.cs) and draws its answer. No library, no build step.
"use strict";

// The models a server can hold (ServedModel.Names, as WebPageTests checks; expression first, the default: it has
// real weights); GET /v2/models/{name} tells which of them this server serves.
const MODELS = ["expression", "m3dfel", "ifdd", "rdfer"];
// One colour per class, in the classes' order (the CLI's timeline plot, ExpressionTimeline.Colours).
const COLOURS = ["#e6a100", "#1f5fbf", "#7f7f7f", "#d62728", "#9467bd", "#2ca02c", "#17becf"];
const FACE = "#3c9d3c", NO_FACE = "#bbbbbb";
// The face strip lies below the probability axis, as in the CLI's plot.
const STRIP_BOTTOM = -0.14, STRIP_TOP = -0.06;

const $ = id => document.getElementById(id);
const state = { file: null, url: null, view: null, request: 0 };

async function getJson(path) {
  const response = await fetch(path);
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status says enough */ }
  return { status: response.status, body };
}

async function loadModels() {
  try {
    const server = await getJson("/v2");
    if (server.body) $("server").textContent = `${server.body.name} ${server.body.version}`;
    const found = await Promise.all(MODELS.map(async name => ({ name, meta: await getJson(`/v2/models/${name}`) })));
    const select = $("model");
    for (const { name, meta } of found) {
      if (meta.status === 404) continue;
      const option = document.createElement("option");
      option.value = name;
      const p = meta.body && meta.body.properties;
      option.textContent = p ? `${name} (${p.backend}, ${p.precision})` : `${name} (loading)`;
      option.title = p ? `${p.device}; weights: ${p.weights}` : "";
      select.append(option);
    }
    if (select.options.length === 0) showError("this server serves none of " + MODELS.join(", "));
  } catch (e) {
    showError(`cannot reach the server: ${e.message}`);
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function choose(file) {
  if (!file) return;
  state.file = file;
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(file);
  $("video").src = state.url;
  $("run").disabled = false;
  analyse();
}

async function analyse() {
  const model = $("model").value;
  if (!state.file || !model) return;
  const request = ++state.request;
  const form = new FormData();
  form.append("video", state.file, state.file.name);
  $("error").hidden = true;
  $("result").hidden = true;
  $("status").textContent = `${model} is analysing ${state.file.name}…`;
  try {
    const response = await fetch(`/v2/models/${encodeURIComponent(model)}/video`, { method: "POST", body: form });
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* shown below */ }
    if (request !== state.request) return;
    if (!response.ok) {
      showError(body && body.error ? `${response.status}: ${body.error}`
        : `${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
      return;
    }
    if (!body || !body.results || body.results.length === 0) {
      showError(body && body.errors && body.errors.length ? body.errors[0].error : "the server sent no result");
      return;
    }
    show(body, text);
  } catch (e) {
    if (request === state.request) showError(`the request failed: ${e.message}`);
  } finally {
    if (request === state.request) $("status").textContent = "";
  }
}

// What the page draws, from either answer: the expression model's (per frame) or a DFER model's (per clip).
function viewOf(json) {
  const r = json.results[0];
  const base = { classes: json.classes, label: r.label, probabilities: r.probabilities };
  if (r.per_frame) {
    const temporal = r.aggregation === "temporal";
    const curve = r.per_frame.map(f => f.face ? { x: f.frame, p: temporal ? f.probabilities : f.smoothed } : null);
    return {
      ...base,
      frames: r.frames,
      fps: r.fps,
      analysedSize: () => r.frame_size,
      // Each frame a point; a frame without a face breaks the lines.
      runs: splitRuns(curve).map(run => run.map(c => ({ x: c.x, p: c.p }))),
      strip: r.per_frame.map(f => ({ frame: f.frame, face: !!f.face })),
      box: frame => { const f = r.per_frame[frame]; return f && f.face ? { ...f.face, label: f.label } : null; },
      summary: `face in ${r.frames_with_face} of ${r.frames} frames; `
        + (temporal ? "Temporal Encoder" : `confidence-weighted mean over ${r.window} frames`),
      axis: temporal ? "probability (Temporal Encoder)" : "probability (smoothed)",
      keyFrames: null,
    };
  }
  const clips = r.per_clip || [];
  const boxes = r.face && r.face.boxes ? r.face.boxes : [];
  const side = json.video ? json.video.analysis_side : 0;
  const last = Math.max(0, ...clips.flatMap(c => c.frames || []), ...boxes.map(b => b.frame));
  return {
    ...base,
    frames: last + 1,
    fps: json.video ? json.video.fps : null,
    // The face stage shrinks frames to `side` pixels at most (aspect kept); the boxes are in those pixels.
    analysedSize: (w, h) => { const s = Math.min(1, side / Math.max(w, h)); return [w * s, h * s]; },
    // Each clip a step over the source frames it was made of.
    runs: [clips.flatMap(c => {
      const f = c.frames || [0];
      return [{ x: Math.min(...f) - 0.5, p: c.probabilities }, { x: Math.max(...f) + 0.5, p: c.probabilities }];
    })],
    strip: boxes.map(b => ({ frame: b.frame, face: b.x !== null })),
    box: frame => {
      // The box of the nearest sampled frame (the face stage tracks every frame; the answer has the sampled ones).
      let best = null;
      for (const b of boxes) if (best === null || Math.abs(b.frame - frame) < Math.abs(best.frame - frame)) best = b;
      if (!best || best.x === null) return null;
      const clip = clips.find(c => c.frames && Math.min(...c.frames) <= frame && frame <= Math.max(...c.frames));
      return { ...best, label: clip ? clip.label : r.label };
    },
    summary: `${r.clips} clip${r.clips === 1 ? "" : "s"}; ` + (r.face && r.face.mode === "detect"
      ? `face in ${r.face.frames_with_face} of ${r.face.sampled_frames} sampled frames` : "whole frames (no face stage)"),
    axis: "probability (per clip)",
    keyFrames: r.key_frames_source || null,
  };
}

function splitRuns(points) {
  const runs = [[]];
  for (const p of points) {
    if (p) runs[runs.length - 1].push(p);
    else if (runs[runs.length - 1].length) runs.push([]);
  }
  return runs.filter(r => r.length);
}

function show(json, text) {
  const view = viewOf(json);
  state.view = view;
  // A DFER model's answer names the sampled frames only: the video's length comes from the video.
  const video = $("video");
  if (view.fps && video.duration) view.frames = Math.max(view.frames, Math.round(video.duration * view.fps));
  const k = view.classes.indexOf(view.label);
  $("label").textContent = view.label;
  $("label").style.color = COLOURS[k] || "";
  $("probability").textContent = view.probabilities[k].toFixed(2);
  $("summary").textContent = `${json.model} on ${json.backend} (${json.precision}): ${view.summary}`;
  $("json").textContent = JSON.stringify(JSON.parse(text), null, 2);
  $("result").hidden = false;
  drawTimeline(view);
  drawOverlay();
  showKeyFrames(view);
}

function drawTimeline(view) {
  const canvas = $("timeline"), g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 56, right = 170, top = 16, bottom = 44;
  const x0 = -0.5, x1 = Math.max(0.5, view.frames - 0.5), y0 = STRIP_BOTTOM - 0.02, y1 = 1.04;
  const X = x => left + (x - x0) / (x1 - x0) * (W - left - right);
  const Y = y => H - bottom - (y - y0) / (y1 - y0) * (H - top - bottom);
  g.fillStyle = "#fff";
  g.fillRect(0, 0, W, H);
  g.font = "12px sans-serif";
  g.strokeStyle = "#ddd";
  g.fillStyle = "#444";
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    g.beginPath();
    g.moveTo(X(x0), Y(t));
    g.lineTo(X(x1), Y(t));
    g.stroke();
    g.fillText(t.toFixed(2), left - 6, Y(t));
  }
  g.fillText("face", left - 6, Y((STRIP_BOTTOM + STRIP_TOP) / 2));
  // The face strip: a cell per frame (per sampled frame for a DFER model), green with the face, grey without.
  for (const s of view.strip) {
    g.fillStyle = s.face ? FACE : NO_FACE;
    g.fillRect(X(s.frame - 0.5), Y(STRIP_TOP), Math.max(1, X(s.frame + 0.5) - X(s.frame - 0.5)),
      Y(STRIP_BOTTOM) - Y(STRIP_TOP));
  }
  // The seven curves, the label's last (on top); a lone point is a dot.
  g.lineWidth = 2;
  const label = view.classes.indexOf(view.label);
  const order = [...view.classes.keys()].filter(k => k !== label).concat(label < 0 ? [] : [label]);
  for (const k of order) {
    g.strokeStyle = g.fillStyle = COLOURS[k % COLOURS.length];
    for (const run of view.runs) {
      if (run.length === 1) {
        g.beginPath();
        g.arc(X(run[0].x), Y(run[0].p[k]), 3, 0, 2 * Math.PI);
        g.fill();
        continue;
      }
      g.beginPath();
      run.forEach((c, i) => (i ? g.lineTo : g.moveTo).call(g, X(c.x), Y(c.p[k])));
      g.stroke();
    }
    // The legend: each class with the video's probability.
    const ly = top + 10 + k * 20;
    g.fillRect(W - right + 14, ly - 5, 18, 10);
    g.fillStyle = "#222";
    g.textAlign = "left";
    g.fillText(`${view.classes[k]} ${view.probabilities[k].toFixed(2)}`, W - right + 38, ly);
  }
  g.fillStyle = "#444";
  g.textAlign = "center";
  g.textBaseline = "alphabetic";
  const unit = view.fps ? `frame (at ${+view.fps.toFixed(2)} frames/s)` : "frame";
  g.fillText(`${unit}; strip: green face found, grey no face`, (left + W - right) / 2, H - 8);
  for (const t of ticks(view.frames)) g.fillText(String(t), X(t), H - bottom + 16);
  g.save();
  g.translate(14, (top + H - bottom) / 2);
  g.rotate(-Math.PI / 2);
  g.fillText(view.axis, 0, 0);
  g.restore();
}

function ticks(frames) {
  const step = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000].find(s => frames / s <= 10) || 10000;
  const out = [];
  for (let t = 0; t < frames; t += step) out.push(t);
  return out;
}

// The face box of the frame on screen, over the video (the boxes are in pixels of the analysed frames).
function drawOverlay() {
  const video = $("video"), canvas = $("overlay"), view = state.view;
  canvas.width = video.clientWidth;
  canvas.height = video.clientHeight;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!view || !video.videoWidth) return;
  const fps = view.fps || (video.duration ? view.frames / video.duration : 0);
  if (!fps) return;
  const frame = Math.min(view.frames - 1, Math.floor(video.currentTime * fps + 1e-6));
  const box = view.box(frame);
  if (!box) return;
  const [aw, ah] = view.analysedSize(video.videoWidth, video.videoHeight);
  const scale = Math.min(canvas.width / video.videoWidth, canvas.height / video.videoHeight);
  const dx = (canvas.width - video.videoWidth * scale) / 2, dy = (canvas.height - video.videoHeight * scale) / 2;
  const sx = video.videoWidth / aw * scale, sy = video.videoHeight / ah * scale;
  const colour = COLOURS[view.classes.indexOf(box.label)] || "#fff";
  g.strokeStyle = colour;
  g.lineWidth = 3;
  g.strokeRect(dx + box.x * sx, dy + box.y * sy, box.width * sx, box.height * sy);
  g.font = "bold 16px sans-serif";
  g.fillStyle = colour;
  g.fillText(box.label || "", dx + box.x * sx, Math.max(16, dy + box.y * sy - 6));
}

function followVideo() {
  const video = $("video");
  if (video.requestVideoFrameCallback) {
    const each = () => { drawOverlay(); video.requestVideoFrameCallback(each); };
    video.requestVideoFrameCallback(each);
  }
  for (const e of ["loadedmetadata", "seeked", "timeupdate", "pause"]) video.addEventListener(e, drawOverlay);
  window.addEventListener("resize", drawOverlay);
}

// RDFER's key frames: their source frame numbers, and a thumbnail of each taken by seeking a second video element.
async function showKeyFrames(view) {
  const box = $("keyframes"), thumbs = $("thumbs");
  thumbs.replaceChildren();
  box.hidden = !view.keyFrames;
  if (!view.keyFrames) return;
  $("keyframe-list").textContent = "source frames " + view.keyFrames.map(f => f < 0 ? "black" : f).join(", ");
  if (!view.fps) return;
  const seeker = document.createElement("video");
  seeker.muted = true;
  seeker.src = state.url;
  await new Promise(done => { seeker.onloadeddata = done; seeker.onerror = done; });
  for (const f of view.keyFrames) {
    if (state.view !== view) return;
    const figure = document.createElement("figure"), c = document.createElement("canvas");
    c.width = 96;
    c.height = seeker.videoWidth ? Math.round(96 * seeker.videoHeight / seeker.videoWidth) : 72;
    const g = c.getContext("2d");
    g.fillStyle = "#000";
    g.fillRect(0, 0, c.width, c.height);
    if (f >= 0) {
      await new Promise(done => { seeker.onseeked = done; seeker.currentTime = (f + 0.5) / view.fps; });
      g.drawImage(seeker, 0, 0, c.width, c.height);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = f < 0 ? "black" : `frame ${f}`;
    figure.append(c, caption);
    thumbs.append(figure);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const drop = $("drop");
  $("file").addEventListener("change", e => choose(e.target.files[0]));
  $("model").addEventListener("change", analyse);
  $("run").addEventListener("click", analyse);
  // A video dropped anywhere on the page is taken (and never opened by the browser in place of the page).
  window.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  window.addEventListener("dragleave", e => { if (!e.relatedTarget) drop.classList.remove("over"); });
  window.addEventListener("drop", e => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  followVideo();
  loadModels();
});
