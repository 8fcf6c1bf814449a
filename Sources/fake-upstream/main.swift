import FakeUpstream
print("hi")
