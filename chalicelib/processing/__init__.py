"""Pure functions: decode, preprocess, serialize and postprocess."""
