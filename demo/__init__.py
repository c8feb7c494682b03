"""Streaming demos: a file, a microphone and a web page (the recognizer arrives with issue #4)."""
