import Chatbox
print("hi")
