// Hands each 128-sample render quantum of the microphone (first channel) to the page.
class PcmSender extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("pcm-sender", PcmSender);
