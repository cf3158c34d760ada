// The capture page: a photo or the camera's frames go to this gateway's POST /score (its own origin only), and the
// answer is shown as a person reads it: the decision, each reason's hint, the quality score, the component measures
// and the quality map over the face. Live mode judges a frame every LIVE_PERIOD_MS with never more than one request
// in flight, and keeps the best accepted frame by its quality score. A 503 or 429 is waited out as Retry-After says.
// The API key, when the gateway asks for one, lives in its input field only: never stored, sent to this origin only.
"use strict";

(() => {
  const LIVE_PERIOD_MS = 400;
  const JPEG_QUALITY = 0.9;
  const MAX_WAIT_S = 60;
  const ACCEPT_COLOUR = "#1a9850";
  const REJECT_COLOUR = "#d73027";

  const $ = (id) => document.getElementById(id);
  const ui = {
    photo: $("photo"),
    start: $("start-camera"),
    stop: $("stop-camera"),
    showMap: $("show-map"),
    key: $("api-key"),
    video: $("video"),
    frame: $("frame"),
    status: $("status"),
    decision: $("decision"),
    hints: $("hints"),
    score: $("score"),
    frames: $("frames"),
    measures: $("measures"),
    best: $("best"),
    bestInfo: $("best-info"),
    bestFrame: $("best-frame"),
    bestDownload: $("best-download"),
  };

  const state = {
    session: 0, // a new photo or camera start begins a new session; answers of an older one are dropped
    stream: null,
    options: null, // the scoring options, once /v1/models has said which models give quality maps
    counts: { judged: 0, accepted: 0, rejected: 0 },
    best: null, // {score, frame, url}
    last: null, // the last judged frame and its answer: redrawn when the camera stops or the map is toggled
    shown: "", // the feedback last announced, so the live region speaks only when it changes
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // One request at a time, whatever asks: each call waits for the previous one to settle.
  let inFlight = Promise.resolve();
  function exclusive(task) {
    const run = inFlight.then(task, task);
    inFlight = run.catch(() => undefined);
    return run;
  }

  function say(text) {
    if (ui.status.textContent !== text) {
      ui.status.textContent = text; // unchanged text is not written again, so it is not announced again
    }
  }

  function keyHeaders() {
    const key = ui.key.value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  // Ask for the measures the policy checks, and for quality-map overlays where the gateway serves a map model.
  async function scoringOptions() {
    if (state.options) {
      return state.options;
    }
    const options = { measures: "default" };
    try {
      const reply = await fetch("v1/models", { headers: keyHeaders(), cache: "no-store" });
      if (!reply.ok) {
        return options; // not remembered: once a key is entered, the next frame asks again
      }
      const info = await reply.json();
      const maps = info.models
        .filter((model) => model.kind === "quality" && model.available && model.maps_only)
        .map((model) => model.name);
      if (maps.length) {
        options.models = [info.default_models[0], ...maps];
        options.return_maps = "overlay";
      }
      state.options = options;
    } catch {
      // unreachable gateway: the score request that follows says so
    }
    return options;
  }

  function retryAfterSeconds(reply) {
    const header = reply.headers.get("Retry-After") || "";
    let seconds = Number(header);
    if (!Number.isFinite(seconds)) {
      seconds = (Date.parse(header) - Date.now()) / 1000; // the HTTP-date form
    }
    return Math.min(MAX_WAIT_S, Math.max(1, Math.ceil(Number.isFinite(seconds) ? seconds : 1)));
  }

  // POST one frame; null when there is no answer to show (the reason is on the page).
  async function post(blob) {
    const form = new FormData();
    form.append("images", blob, "frame.jpg");
    form.append("options", JSON.stringify(await scoringOptions()));
    let reply;
    try {
      reply = await fetch("score", { method: "POST", body: form, headers: keyHeaders() });
    } catch {
      say("The gateway cannot be reached: check that it is running, then try again.");
      return null;
    }
    if (reply.status === 503 || reply.status === 429) {
      return { busy: retryAfterSeconds(reply) };
    }
    const body = await reply.json().catch(() => null);
    if (reply.status === 401) {
      say(
        ui.key.value.trim()
          ? "The gateway did not accept this API key: check it, then try again."
          : "This gateway needs an API key: enter it in the API key field, then try again.",
      );
      return null;
    }
    if (!reply.ok) {
      say(`The gateway refused the frame: ${body?.error?.message ?? reply.statusText}`);
      return null;
    }
    return { body };
  }

  // Judge what takeFrame() gives; while the gateway is busy, wait as it says and take a new frame.
  async function judge(takeFrame, current) {
    for (;;) {
      const frame = await takeFrame();
      if (!frame || !current()) {
        return null;
      }
      const answer = await exclusive(() => post(frame.blob));
      if (!answer || !current()) {
        return null;
      }
      if (answer.busy === undefined) {
        return { frame, body: answer.body };
      }
      say(`The gateway is busy: trying again in ${answer.busy} s.`);
      await sleep(answer.busy * 1000);
      if (!current()) {
        return null;
      }
    }
  }

  function base64Png(data) {
    const bytes = Uint8Array.from(atob(data), (char) => char.charCodeAt(0));
    return createImageBitmap(new Blob([bytes], { type: "image/png" }));
  }

  // The map's 2x3 affine goes from the frame to the map; the canvas needs map -> frame, its inverse.
  function inverseAffine([[a, b, c], [d, e, f]]) {
    const det = a * e - b * d;
    return [e / det, -d / det, -b / det, a / det, (b * f - e * c) / det, (d * c - a * f) / det];
  }

  async function drawOverlays(context, faces) {
    if (!ui.showMap.checked) {
      return;
    }
    const overlays = faces.flatMap((face) => Object.values(face.maps).filter((map) => map.format === "overlay"));
    const images = await Promise.all(overlays.map((map) => base64Png(map.data)));
    overlays.forEach((map, i) => {
      context.save();
      context.setTransform(...inverseAffine(map.transform));
      context.globalAlpha = 0.85;
      context.drawImage(images[i], 0, 0, map.width, map.height);
      context.restore();
    });
  }

  function drawFace(context, face, scale) {
    const colour = face.decision === "accept" ? ACCEPT_COLOUR : REJECT_COLOUR;
    const { x1, y1, x2, y2 } = face.box;
    context.lineWidth = 3 * scale;
    context.strokeStyle = colour;
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    context.fillStyle = colour;
    for (const [x, y] of face.landmarks) {
      context.beginPath();
      context.arc(x, y, 4 * scale, 0, 2 * Math.PI);
      context.fill();
    }
  }

  // The judged frame (or, live, a transparent layer over the video) with each face's map, box and landmarks.
  async function draw(source, image) {
    const canvas = ui.frame;
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    if (source) {
      context.drawImage(source, 0, 0, image.width, image.height);
    }
    await drawOverlays(context, image.faces);
    const scale = Math.max(1, Math.max(image.width, image.height) / 800);
    image.faces.forEach((face) => drawFace(context, face, scale));
  }

  function showFeedback(image) {
    const face = image.faces[0];
    const decision = image.decision === "accept" ? "Accepted: good enough for recognition." : "Rejected.";
    const { hints } = image;
    const said = JSON.stringify([decision, hints]);
    if (said !== state.shown) {
      state.shown = said;
      ui.decision.textContent = decision;
      ui.decision.className = image.decision;
      ui.hints.replaceChildren(
        ...hints.map((hint) => {
          const item = document.createElement("li");
          item.textContent = hint;
          return item;
        }),
      );
    }
    if (!face) {
      ui.score.textContent = "No face found.";
    } else if (face.quality.score < 0) {
      ui.score.textContent = "Quality could not be assessed.";
    } else {
      ui.score.textContent = `Quality ${face.quality.score.toFixed(1)} / 100 (model ${face.quality.model}).`;
    }
    showMeasures(face ? face.measures : {});
  }

  function showMeasures(measures) {
    const rows = Object.entries(measures).map(([name, value]) => {
      const row = document.createElement("tr");
      const assessed = value.score >= 0; // a raw value may be negative (an angle): the score says "not assessed"
      const score = assessed ? value.score.toFixed(0) : `not assessed${value.reason ? `: ${value.reason}` : ""}`;
      for (const text of [name, score, assessed ? value.raw.toFixed(2) : ""]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    ui.measures.tBodies[0].replaceChildren(...rows);
    ui.measures.hidden = rows.length === 0;
  }

  function showError(image) {
    state.shown = "";
    ui.decision.textContent = `This image could not be judged: ${image.error.message}`;
    ui.decision.className = "reject";
    ui.hints.replaceChildren();
    ui.score.textContent = "";
    showMeasures({});
  }

  async function show(source, image) {
    if (image.status === "error") {
      showError(image);
      return;
    }
    await draw(source, image);
    showFeedback(image);
  }

  function resetBest() {
    if (state.best) {
      URL.revokeObjectURL(state.best.url);
    }
    state.best = null;
    state.counts = { judged: 0, accepted: 0, rejected: 0 };
    ui.best.hidden = true;
    ui.frames.textContent = "";
  }

  // Live: count the frame and keep it when it is accepted with a higher quality than the best so far.
  function tally(frame, image, number) {
    const accepted = image.status === "ok" && image.decision === "accept";
    state.counts.judged += 1;
    state.counts[accepted ? "accepted" : "rejected"] += 1;
    const { judged, rejected } = state.counts;
    ui.frames.textContent = `Frames judged: ${judged} (${state.counts.accepted} accepted, ${rejected} rejected).`;
    const score = accepted ? image.faces[0].quality.score : -Infinity;
    if (!accepted || (state.best && state.best.score >= score)) {
      return;
    }
    if (state.best) {
      URL.revokeObjectURL(state.best.url);
    }
    state.best = { score, frame: number, url: URL.createObjectURL(frame.blob) };
    ui.bestFrame.width = frame.canvas.width;
    ui.bestFrame.height = frame.canvas.height;
    ui.bestFrame.getContext("2d").drawImage(frame.canvas, 0, 0);
    ui.bestDownload.href = state.best.url;
    ui.bestInfo.textContent = `Best accepted frame so far: frame ${number}, quality ${score.toFixed(1)} / 100.`;
    ui.best.hidden = false;
  }

  function toJpeg(canvas) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  }

  async function grabFrame() {
    const { video } = ui;
    while (state.stream && video.videoWidth === 0) {
      await sleep(50); // the stream has not given its first frame yet
    }
    if (!state.stream) {
      return null;
    }
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return { canvas, blob: await toJpeg(canvas) };
  }

  async function judgePhoto(file) {
    stopCamera();
    const session = ++state.session;
    const current = () => state.session === session;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      bitmap = null; // a format this browser cannot show: the gateway may still read it
    }
    say(`Judging ${file.name}…`);
    const result = await judge(async () => ({ blob: file }), current);
    if (!result) {
      return;
    }
    const image = result.body.images[0];
    ui.video.hidden = true;
    state.last = { source: bitmap, image };
    await show(bitmap, image);
    say(`${file.name} judged.`);
  }

  function cameraProblem(error) {
    switch (error.name) {
      case "NotAllowedError":
      case "SecurityError":
        return "Camera permission was denied. Allow the camera for this page in the browser's site settings, or choose a photo instead.";
      case "NotFoundError":
      case "OverconstrainedError":
        return "No camera was found. Connect one, or choose a photo instead.";
      case "NotReadableError":
        return "The camera could not be started: another application may be using it.";
      default:
        return `The camera could not be started (${error.name}).`;
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices?.getUserMedia) {
      say("This browser offers no camera to this page: the camera needs https (or localhost). Choose a photo instead.");
      return;
    }
    const session = ++state.session;
    say("Asking for the camera…");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (error) {
      say(cameraProblem(error));
      return;
    }
    if (state.session !== session) {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    state.stream = stream;
    ui.video.srcObject = stream;
    ui.frame.width = ui.frame.height = 0; // no earlier photo over the video until the first frame is judged
    ui.video.hidden = false;
    await ui.video.play();
    ui.start.disabled = true;
    ui.stop.disabled = false;
    resetBest();
    say(`Camera on: a frame is judged every ${LIVE_PERIOD_MS / 1000} s. Look at the camera.`);
    liveLoop(session);
  }

  async function liveLoop(session) {
    const current = () => state.session === session && state.stream !== null;
    let number = 0;
    while (current()) {
      const started = performance.now();
      const result = await judge(grabFrame, current);
      if (result && current()) {
        number += 1;
        const image = result.body.images[0];
        await show(null, image);
        state.last = { source: result.frame.canvas, image };
        tally(result.frame, image, number);
        say("Camera on: judging frames as they come.");
      }
      await sleep(Math.max(0, LIVE_PERIOD_MS - (performance.now() - started)));
    }
  }

  function redrawLast() {
    if (state.last?.image.status === "ok") {
      draw(state.last.source, state.last.image);
    }
  }

  function stopCamera() {
    if (!state.stream) {
      return;
    }
    state.session += 1;
    state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    ui.video.srcObject = null;
    ui.video.hidden = true;
    redrawLast();
    const hadFocus = document.activeElement === ui.stop;
    ui.start.disabled = false;
    ui.stop.disabled = true;
    if (hadFocus) {
      ui.start.focus(); // the focused button is now disabled: keep the keyboard user in place
    }
    say(state.best ? "Camera off. The best accepted frame is kept below." : "Camera off.");
  }

  ui.photo.addEventListener("change", () => {
    if (ui.photo.files.length) {
      judgePhoto(ui.photo.files[0]);
    }
  });
  ui.start.addEventListener("click", startCamera);
  ui.stop.addEventListener("click", stopCamera);
  ui.showMap.addEventListener("change", () => {
    if (!state.stream) {
      redrawLast(); // live, the next frame shows the choice
    }
  });
})();
