public enum FakeUpstreamPlaceholder {}
