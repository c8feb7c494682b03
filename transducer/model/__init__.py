"""The Neural Transducer: encoder, attention over the current block, decoder, CTC head."""
