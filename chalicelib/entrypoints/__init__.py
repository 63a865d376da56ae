"""Lambda and HTTP entrypoints: parse, make one service call, return."""
