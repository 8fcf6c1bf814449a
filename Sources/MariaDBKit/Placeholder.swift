import CMariaDB
public enum MariaDBKitPlaceholder {}
