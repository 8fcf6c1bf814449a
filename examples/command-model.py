#!/usr/bin/env python3
"""A "model" of your own, plugged into Chatbox through a command.

Run the server with

    CHATBOX_LLM_COMMAND="python3 examples/command-model.py" swift run chatbox

and every answer comes from this program. The contract (see examples/README.md):

  stdin   one JSON document, then EOF: {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
          (oldest first; the last one is the user's new message)
  stdout  the answer, streamed: whatever you print appears in the chat as soon as you flush it
  exit    0 when the answer is complete; anything else is an error, and the end of stderr is shown to the user

This example "streams" by echoing the user's words and then saying them backwards, with a small pause between
pieces (COMMAND_MODEL_DELAY seconds, default 0.05). Send the message "fail" to see how an error looks.
Replace the body of answer() with a call to your own model, printing each piece with flush=True.
"""
import json
import os
import sys
import time

DELAY = float(os.environ.get("COMMAND_MODEL_DELAY", "0.05"))


def emit(piece):
    print(piece, end="", flush=True)   # flush: without it, Python would hold the text back until exit
    time.sleep(DELAY)


def answer(messages):
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if any(m["role"] == "system" and "title" in m["content"].lower() for m in messages):
        emit(" ".join(last.split()[:4]) or "New chat")   # the app asks for a short conversation title
        return 0
    if last.strip() == "fail":
        print("command-model.py: you asked me to fail, so I exit with status 1", file=sys.stderr)
        return 1
    words = last.split()
    emit(f"You said {len(words)} word{'s' if len(words) != 1 else ''} ")
    emit(f"(this is message {len(messages)} of the conversation).\n\n")
    emit("Backwards:")
    for word in reversed(words):
        emit(" " + word)
    emit("\n")
    return 0


def main():
    request = json.load(sys.stdin)
    return answer(request.get("messages", []))


if __name__ == "__main__":
    sys.exit(main())
