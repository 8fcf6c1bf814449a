public enum ChatboxPlaceholder {}
