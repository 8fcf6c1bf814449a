print("chatbox-bench: not written yet")
