// Microphone -> AudioWorklet -> 100 ms float32 frames over a WebSocket -> JSON results.
"use strict";

const $ = (id) => document.getElementById(id);
const FRAME_SECONDS = 0.1;
let ws = null, audio = null, media = null, pending = [], pendingLength = 0, frameLength = 1600;

function setStatus(text) {
  $("status").textContent = text;
  document.body.dataset.status = text;
}

function sendPending() {
  if (!pendingLength || !ws || ws.readyState !== WebSocket.OPEN) return;
  const frame = new Float32Array(pendingLength);
  let offset = 0;
  for (const piece of pending) { frame.set(piece, offset); offset += piece.length; }
  pending = []; pendingLength = 0;
  ws.send(frame.buffer);
}

function onSamples(samples) {
  pending.push(samples);
  pendingLength += samples.length;
  if (pendingLength >= frameLength) sendPending();
}

// Words of a result with the block that emitted each word's last character.
function wordsByBlock(result) {
  const words = [];
  let word = "", block = null;
  result.tokens.forEach((token, i) => {
    if (token === " ") {
      if (word) words.push({ word, block });
      word = "";
    } else {
      word += token;
      block = result.blocks[i];
    }
  });
  if (word) words.push({ word, block });
  return words;
}

function showTimeline(result) {
  const timeline = $("timeline");
  timeline.textContent = "";
  const words = wordsByBlock(result);
  if (!words.length) return;
  const first = Math.max(words[0].block, words[words.length - 1].block - 40);
  for (let b = first; b <= words[words.length - 1].block; b++) {
    const cell = document.createElement("div");
    const here = words.filter((w) => w.block === b).map((w) => w.word);
    cell.className = here.length ? "block words" : "block";
    cell.innerHTML = `<span class="num">${b}</span>`;
    cell.append(here.join(" "));
    timeline.append(cell);
  }
}

function addSegment(result) {
  if (!result.text) return;
  const item = document.createElement("li");
  const times = result.timestamps;
  const span = document.createElement("span");
  span.className = "time";
  span.textContent = `${times[0].toFixed(2)}–${times[times.length - 1].toFixed(2)} s`;
  item.append(span, result.text);
  $("segments").append(item);
}

function onResult(result) {
  if (result.type === "partial") {
    $("partial").textContent = result.text;
    showTimeline(result);
  } else if (result.type === "segment") {
    addSegment(result);
    $("partial").textContent = "";
  } else if (result.type === "done") {
    $("segments").textContent = "";  // the server's list is the authority
    result.segments.forEach(addSegment);
    const all = { tokens: [], blocks: [] };  // the whole stream's timeline
    for (const segment of result.segments) {
      all.tokens.push(...segment.tokens, " ");
      all.blocks.push(...segment.blocks, segment.blocks[segment.blocks.length - 1]);
    }
    showTimeline(all);
    $("partial").textContent = "";
    $("transcript").textContent = result.text;
    setStatus("done");
  } else if (result.type === "error") {
    setStatus(`error: ${result.message}`);
  }
}

async function startAudio() {
  // The worklet is ready before the microphone opens, so no early audio is lost.
  audio = new AudioContext();
  await audio.audioWorklet.addModule("worklet.js");
  const node = new AudioWorkletNode(audio, "pcm-sender");
  node.port.onmessage = (event) => onSamples(event.data);
  node.connect(audio.destination); // keeps the graph pulling; the worklet outputs silence
  media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  audio.createMediaStreamSource(media).connect(node);
  frameLength = Math.round(audio.sampleRate * FRAME_SECONDS);
  return audio.sampleRate;
}

function stopAudio() {
  if (media) media.getTracks().forEach((track) => track.stop());
  if (audio) audio.close();
  media = null; audio = null;
}

async function start() {
  $("start").disabled = true;
  $("segments").textContent = ""; $("transcript").textContent = ""; $("timeline").textContent = "";
  setStatus("starting microphone");
  let rate;
  try {
    rate = await startAudio();
  } catch (error) {
    setStatus(`no microphone: ${error.message}`);
    $("start").disabled = false;
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws?sample_rate=${rate}`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => onResult(JSON.parse(event.data));
  ws.onopen = () => { setStatus("listening"); $("stop").disabled = false; };
  ws.onclose = (event) => {
    stopAudio();
    if (document.body.dataset.status !== "done" && !document.body.dataset.status.startsWith("error")) {
      setStatus(event.reason ? `closed: ${event.reason}` : "closed");
    }
    $("start").disabled = false; $("stop").disabled = true;
  };
}

function stop() {
  $("stop").disabled = true;
  sendPending();
  stopAudio();
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send("Done");
    setStatus("finishing");
  }
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
setStatus("idle");
